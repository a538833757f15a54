"""Group figures: trajectories and power curves per region, forest plots of rates and differences."""

from pathlib import Path

from brain_atrophy.report import figures
from brain_atrophy.scripting import run_script
from brain_atrophy.stats.columns import measure_rows
from brain_atrophy.tables import read_frame


def main(smk):
    # the modelled change measure's rows (with change_measure: jacobian the table also holds the
    # label counts of sessions with label images)
    volumes = measure_rows(read_frame(smk.input.volumes))
    rates = read_frame(smk.input.rates_by_group)
    pairwise = read_frame(smk.input.pairwise_differences)
    power = read_frame(smk.input.power)
    # the subjects the model saw (not those left out for a missing covariate)
    modelled = read_frame(smk.input.subject_rates)["participant_id"].unique()
    volumes = volumes[volumes["participant_id"].isin(modelled)]
    for directory in (smk.output.trajectories, smk.output.power):
        Path(directory).mkdir(parents=True, exist_ok=True)
    for region in rates["region"].unique():
        figures.trajectories(volumes, rates, region, Path(smk.output.trajectories) / f"{region}.png")
        figures.power_curve(power, region, Path(smk.output.power) / f"{region}.png")
    figures.forest(
        rates,
        ["region", "group"],
        "rate_pct_per_year",
        "Rates by group (mixed model)",
        smk.output.forest_rates,
    )
    pairwise = pairwise.assign(contrast=pairwise["group"] + " − " + pairwise["versus"])
    figures.forest(
        pairwise,
        ["region", "contrast"],
        "difference_pct_per_year",
        "Group differences",
        smk.output.forest_differences,
    )


run_script(snakemake, main)
