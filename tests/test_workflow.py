"""Real Snakemake runs of the whole pipeline on a generated cohort."""

import json
import os
import signal
import subprocess
import time

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, cohort_config, run_snakemake, snakemake_command, study_window
from scipy import stats

from brain_atrophy.inputs.regions import read_region_table
from brain_atrophy.tables import read_frame
from brain_atrophy_demo import demo

pytestmark = pytest.mark.slow

CONTRACT = {
    "volumes.tsv": [
        "participant_id",
        "session_id",
        "group",
        "acq_time",
        "years",
        "region",
        "method",
        "volume_mm3",
        "n_voxels",
    ],
    "subject_rates.tsv": [
        "participant_id",
        "group",
        "region",
        "n_sessions",
        "followup_years",
        "baseline_volume_mm3",
        "rate_pct_per_year",
    ],
    "rates_by_group.tsv": [
        "region",
        "group",
        "rate_pct_per_year",
        "ci_low",
        "ci_high",
        "n_subjects",
        "n_sessions",
        "converged",
    ],
    "group_differences.tsv": [
        "region",
        "group",
        "reference_group",
        "difference_pct_per_year",
        "ci_low",
        "ci_high",
        "p_value",
        "p_fdr",
    ],
    "rates_by_measure.tsv": [
        "group",
        "region",
        "method",
        "rate_pct_per_year",
        "ci_low",
        "ci_high",
        "ci_width",
        "n_subjects",
    ],
}


def study_config(cohort, out, **extra) -> list[str]:
    return cohort_config(cohort, out, window=study_window(cohort), **extra)


@pytest.fixture(scope="module")
def demo_run(small_cohort, tmp_path_factory):
    """The pipeline on small_cohort with the study's window (the treated groups from week 24)."""
    work = tmp_path_factory.mktemp("run")
    out = work / "results"
    run_snakemake(*study_config(small_cohort, out), cwd=work)
    return small_cohort, work, out


@pytest.fixture(scope="module")
def run_without_window(small_cohort, tmp_path_factory):
    """The same cohort with every session analysed (the default config)."""
    work = tmp_path_factory.mktemp("run-no-window")
    run_snakemake(*cohort_config(small_cohort, work / "results"), cwd=work)
    return work / "results"


@pytest.fixture(scope="module")
def run_window_on_every_group(small_cohort, tmp_path_factory):
    """The same cohort with the study's window applied to every group, the controls too."""
    work = tmp_path_factory.mktemp("run-window-all")
    window = {key: value for key, value in study_window(small_cohort).items() if key != "groups"}
    run_snakemake(*cohort_config(small_cohort, work / "results", window=window), cwd=work)
    return work / "results"


def test_outputs_follow_the_contract(demo_run):
    cohort, _, out = demo_run
    for name, columns in CONTRACT.items():
        table = read_frame(out / "group" / name)
        assert list(table.columns[: len(columns)]) == columns
        assert len(table) > 0
    description = (out / "dataset_description.json").read_text()
    assert '"DatasetType": "derivative"' in description and '"GeneratedBy"' in description
    n_images = len(list((cohort / "derivatives" / "segmentation").glob("sub-*/ses-*/anat/*_dseg.nii.gz")))
    per_session = list(out.glob("sub-*/ses-*/anat/sub-*_ses-*_volumes.tsv"))
    assert len(per_session) == n_images
    assert (
        read_frame(out / "group" / "volumes.tsv")[["participant_id", "session_id"]].drop_duplicates().shape[0]
        == n_images
    )


def test_group_confidence_intervals_cover_the_planted_rates(demo_run):
    """Coverage is random, so the test is built to fail falsely at most ~1.5 % of seeds:
    Bonferroni-simultaneous 99 % intervals must all cover, and at least 12 of the 15 reported
    95 % intervals (P(≥ 4 misses) < 0.6 % at 95 % coverage)."""
    cohort, _, out = demo_run
    rates = read_frame(out / "group" / "rates_by_group.tsv")
    truth = read_frame(cohort / "truth" / "groups.tsv")
    merged = rates.merge(truth, on=["group", "region"])
    assert len(merged) == 15  # 5 regions × 3 groups
    assert merged["converged"].all()
    planted = merged["sample_mean_rate_pct_per_year"]
    inside = (merged["ci_low"] <= planted) & (planted <= merged["ci_high"])
    assert inside.sum() >= 12, merged.loc[
        ~inside, ["region", "group", "rate_pct_per_year", "ci_low", "ci_high"]
    ]
    quantile = stats.t.ppf(1 - 0.01 / 15 / 2, merged["df"])
    planted_slope = 100 * np.log1p(planted / 100)
    z = (planted_slope - merged["slope"]).abs() / merged["slope_se"]
    assert (z < quantile).all(), merged.assign(z=z)[["region", "group", "slope", "slope_se", "df"]]


def step_read_as_rate(visit_weeks, step_week) -> float:
    """The least-squares slope (per year) of a unit step at ``step_week`` over these visits: the
    part of a step that a straight line through every visit reads as rate."""
    weeks = np.asarray(visit_weeks, float)
    return float(np.polyfit(weeks * 7 / 365.25, (weeks >= step_week).astype(float), 1)[0])


def white_matter_rates(out):
    rates = read_frame(out / "group" / "rates_by_group.tsv")
    return rates[rates["region"] == "white_matter"].set_index("group")


def test_without_the_window_pseudo_atrophy_steepens_the_treated_groups(demo_run, run_without_window):
    """The treated groups' planted pseudo-atrophy is a step between baseline and week 24. Fitted
    on every session, their white-matter rates absorb it: steeper than planted by about the
    step's least-squares slope over the visits (for OCR -1.2 % × 0.43/yr ≈ -0.5 %/yr). With the
    study's window their intervals hold the planted rates."""
    cohort, _, out = demo_run
    truth = read_frame(cohort / "truth" / "groups.tsv")
    white_matter = truth[truth["region"] == "white_matter"].set_index("group")
    treated = white_matter[white_matter["pseudo_atrophy_pct"] < 0]
    assert sorted(treated.index) == study_window(cohort)["groups"] == ["IFN", "OCR"]
    planted = treated["sample_mean_rate_pct_per_year"]
    step = 100 * np.log1p(treated["pseudo_atrophy_pct"] / 100)  # in the model's 100·ln units
    read_as_rate = pd.Series(
        {
            group: step_read_as_rate([int(w) for w in row["visit_weeks"].split()], row["rate_from_week"])
            for group, row in treated.iterrows()
        }
    )
    expected_bias = step * read_as_rate

    every_session = white_matter_rates(run_without_window).loc[treated.index]
    bias = every_session["slope"] - 100 * np.log1p(planted / 100)
    # the bias is the one the step predicts (within 3 SE), and pooled over the treated groups
    # it is steeper than chance allows (one-sided 1 %)
    assert ((bias - expected_bias).abs() < 3 * every_session["slope_se"]).all(), (bias, expected_bias)
    assert bias.sum() / np.sqrt((every_session["slope_se"] ** 2).sum()) < -2.33, bias
    largest = every_session.loc[step.idxmin()]
    assert not largest["ci_low"] <= planted[step.idxmin()] <= largest["ci_high"], largest

    windowed = white_matter_rates(out).loc[treated.index]
    assert ((windowed["ci_low"] <= planted) & (planted <= windowed["ci_high"])).all(), windowed
    print(
        "white matter, planted / every session / window (%/yr): "
        + "; ".join(
            f"{group} {planted[group]:.3f} / {every_session.loc[group, 'rate_pct_per_year']:.3f} / "
            f"{windowed.loc[group, 'rate_pct_per_year']:.3f}"
            for group in treated.index
        )
    )


def test_a_window_on_every_group_loses_the_controls_baselines(demo_run, run_window_on_every_group):
    """Controls have no pseudo-atrophy and no week-24 visit: a window on every group takes
    nothing from them but their baselines, while the study's window keeps them."""
    cohort, _, out = demo_run
    participants = read_frame(cohort / "bids" / "participants.tsv")
    controls = sorted(set(participants["group"]) - set(study_window(cohort)["groups"]))
    assert controls == ["HC"]
    n_controls = int(participants["group"].isin(controls).sum())
    for run, baselines_kept in ((out, True), (run_window_on_every_group, False)):
        volumes = read_frame(run / "group" / "volumes.tsv")
        control_rows = volumes[volumes["group"].isin(controls)]
        baseline = control_rows["years"] == 0
        assert control_rows.loc[baseline, "participant_id"].nunique() == n_controls
        assert (control_rows.loc[baseline, "in_window"] == baselines_kept).all()
        assert control_rows.loc[~baseline, "in_window"].all()  # their week 48 and 96
    study = read_frame(out / "group" / "rates_by_group.tsv").set_index(["region", "group"])
    every = read_frame(run_window_on_every_group / "group" / "rates_by_group.tsv").set_index(
        ["region", "group"]
    )
    lost = study["n_sessions"] - every.loc[study.index, "n_sessions"]
    is_control = lost.index.get_level_values("group").isin(controls)
    assert (lost[is_control] == n_controls).all(), lost  # one baseline per control
    assert (lost[~is_control] == 0).all(), lost  # the treated groups are windowed in both


def test_subject_rates_track_the_planted_ones(demo_run):
    """Each subject's own least-squares rate misses its planted one by measurement noise only:
    in units of the noise a slope through its analysed sessions carries (the planted noise per
    scan over √Σ(t − t̄)²), the misses in the planted tissues average 0 (within 3 SE) with an SD
    of about 1. Pseudo-atrophy left in the window would shift the treated subjects' misses."""
    cohort, _, out = demo_run
    volumes = read_frame(out / "group" / "volumes.tsv")
    analysed = volumes[
        volumes["in_window"] & ~volumes["excluded"] & volumes["region"].isin(list(demo.TISSUES))
    ]
    spread = (
        analysed.groupby(["participant_id", "region"])["years"]
        .agg(lambda years: ((years - years.mean()) ** 2).sum())
        .rename("time_spread")
        .reset_index()
    )
    rates = read_frame(out / "group" / "subject_rates.tsv").dropna(subset=["rate_pct_per_year"])
    truth = read_frame(cohort / "truth" / "subjects.tsv")
    merged = rates.merge(truth, on=["participant_id", "region"]).merge(
        spread, on=["participant_id", "region"]
    )
    miss = 100 * np.log1p(merged["rate_pct_per_year"] / 100) - 100 * merged["planted_log_slope"]
    z = miss / (demo.NOISE_SD / np.sqrt(merged["time_spread"]))
    assert len(z) >= 40
    assert abs(z.mean()) < 3 / np.sqrt(len(z)), z.mean()
    assert 0.7 < z.std() < 1.4, z.std()


def test_model_subject_rates_cover_the_planted_ones_and_beat_two_stage(demo_run):
    """Every subject in the model gets a prediction and a 95 % interval; on this planted cohort
    (about 20 subjects × 5 regions) the intervals cover the planted subject rates at about their
    nominal level, and the predictions are closer to them than the subjects' own OLS rates."""
    cohort, _, out = demo_run
    effects = read_frame(out / "group" / "subject_effects.tsv")
    volumes = read_frame(out / "group" / "volumes.tsv")
    analysed = set(volumes.loc[volumes["in_window"] & ~volumes["excluded"], "participant_id"])
    truth = read_frame(cohort / "truth" / "subjects.tsv")
    truth = truth[truth["participant_id"].isin(analysed)]  # a baseline-only treated subject has none
    merged = effects.merge(truth, on=["participant_id", "region"], suffixes=("", "_truth"))
    assert len(merged) == len(effects) == len(truth)  # every analysed subject, single visits included
    planted = merged["planted_rate_pct_per_year"]
    inside = (merged["ci_low"] <= planted) & (planted <= merged["ci_high"])
    assert inside.mean() >= 0.85, inside.mean()
    both = merged.dropna(subset=["two_stage_rate_pct_per_year"])
    rmse_model = np.sqrt(((both["rate_pct_per_year"] - both["planted_rate_pct_per_year"]) ** 2).mean())
    rmse_two_stage = np.sqrt(
        ((both["two_stage_rate_pct_per_year"] - both["planted_rate_pct_per_year"]) ** 2).mean()
    )
    assert rmse_model < rmse_two_stage, (rmse_model, rmse_two_stage)
    print(f"coverage {inside.mean():.3f}; RMSE model {rmse_model:.4f} vs two-stage {rmse_two_stage:.4f} %/yr")


def test_volumes_equal_an_independent_count(demo_run):
    cohort, _, out = demo_run
    volumes = read_frame(out / "group" / "volumes.tsv")
    regions = read_region_table(REPO / "config" / "regions" / "freesurfer.tsv")
    seg = cohort / "derivatives" / "segmentation"
    for _, row in volumes.drop_duplicates(["participant_id", "session_id"]).head(6).iterrows():
        sub, ses = row["participant_id"], row["session_id"]
        image = nib.load(seg / sub / ses / "anat" / f"{sub}_{ses}_dseg.nii.gz")
        data = image.get_fdata()
        voxel = abs(np.linalg.det(image.affine[:3, :3]))
        for region, labels in regions.items():
            expected = np.isin(data, labels).sum() * voxel
            row_of = (volumes["participant_id"] == sub) & (volumes["session_id"] == ses)
            measured = volumes.loc[row_of & (volumes["region"] == region), "volume_mm3"]
            assert measured.iloc[0] == pytest.approx(expected, rel=1e-6)
        labelled = volumes.loc[
            (volumes["participant_id"] == sub) & (volumes["session_id"] == ses), "labelled_mm3"
        ]
        assert labelled.iloc[0] == pytest.approx((data > 0).sum() * voxel, rel=1e-6)


def test_a_finished_run_plans_nothing(demo_run):
    cohort, work, out = demo_run
    result = run_snakemake("-n", *study_config(cohort, out), cwd=work)
    assert "Nothing to be done" in result.stdout + result.stderr


def test_lint_is_clean_on_a_real_config(demo_run):
    cohort, work, out = demo_run
    result = run_snakemake("--lint", *study_config(cohort, out), cwd=work, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def wait_for(condition, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def start_snakemake(*args, cwd):
    """``run_snakemake``'s command, started in its own session (to be signalled) and not waited for."""
    return subprocess.Popen(
        snakemake_command(*args),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_kill_9_then_rerun_gives_the_uninterrupted_results(demo_run, tmp_path):
    cohort, _, reference = demo_run
    out = tmp_path / "results"
    config = study_config(cohort, out)
    run = start_snakemake(*config, cwd=tmp_path)
    started = wait_for(lambda: len(list(out.glob("sub-*/ses-*"))) >= 6, run)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert started, "the run ended before it could be interrupted"
    assert not (out / "group" / "rates_by_group.tsv").exists()
    run_snakemake("--unlock", *config, cwd=tmp_path)
    run_snakemake(*config, cwd=tmp_path)  # the default profile sets rerun-incomplete
    for name in ("volumes.tsv", "subject_rates.tsv", "rates_by_group.tsv", "group_differences.tsv"):
        assert (out / "group" / name).read_bytes() == (reference / "group" / name).read_bytes(), name
    for table in reference.glob("sub-*/**/*.tsv"):
        assert (out / table.relative_to(reference)).read_bytes() == table.read_bytes()


def test_a_second_run_on_the_same_directory_is_refused(demo_run, tmp_path):
    cohort, _, _ = demo_run
    config = cohort_config(cohort, tmp_path / "results")
    first = start_snakemake(*config, cwd=tmp_path)
    try:
        assert wait_for(lambda: any((tmp_path / ".snakemake" / "locks").glob("*")), first)
        os.killpg(first.pid, signal.SIGSTOP)  # hold the first run, lock taken, mid-way
        second = run_snakemake(*config, cwd=tmp_path, check=False)
        assert second.returncode != 0
        assert "Directory cannot be locked" in second.stdout + second.stderr
    finally:
        os.killpg(first.pid, signal.SIGCONT)
        output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output


def test_labelled_volume_as_head_size_covariate(small_cohort, tmp_path):
    # small_cohort, not tiny_cohort: with 4 subjects two covariates and two group intercepts
    # leave nothing to estimate the random intercepts from
    out = tmp_path / "results"
    run_snakemake(*cohort_config(small_cohort, out, covariates=["icv", "age"]), cwd=tmp_path)
    description = json.loads((out / "group" / "analysis.json").read_text())
    volumes = read_frame(out / "group" / "volumes.tsv")
    baseline = volumes.sort_values("years").drop_duplicates("participant_id")["labelled_mm3"]
    assert description["covariate_reference_values"]["icv"] == pytest.approx(baseline.mean())
    assert description["covariates"] == ["icv", "age"]
    assert read_frame(out / "group" / "rates_by_group.tsv")["converged"].all()
