"""The study as it ran: visit schedules per group, a pseudo-atrophy window for the treated groups
only, and rates of ICV-normalized volume with a check of the ICV's own drift. Planted cohorts
(brain_atrophy_demo.simulate.simulate_study) and R lme4 on the same data as the reference."""

import html
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import compare_with_lmer

from brain_atrophy.errors import InputError
from brain_atrophy.stats import cohort
from brain_atrophy.stats.analysis import session_rows, window
from brain_atrophy.stats.cohort import WEEKS_PER_YEAR
from brain_atrophy.stats.group import Settings, model_rates
from brain_atrophy.stats.icv_drift import drift_warning, icv_drift
from brain_atrophy_demo.simulate import PSEUDO_ATROPHY, STUDY_RATES, STUDY_REGIONS, simulate_study

TREATED = ("OCR", "IFN")
PATIENT_WINDOW = {"window_start_weeks": 24, "rebaseline": True, "window_groups": TREATED}


def covered(rates: pd.DataFrame) -> int:
    """How many (group, region) cells' CIs cover the planted rate (%/yr of 100·ln, as pct())."""
    planted = rates.apply(lambda r: 100 * np.expm1(STUDY_RATES[r["group"]][r["region"]] / 100), axis=1)
    return int(((rates["ci_low"] <= planted) & (planted <= rates["ci_high"])).sum())


def lmer_reference(lmer, tmp_path, volumes, participants, description) -> pd.DataFrame:
    """lme4's fit of every region with the random-effects structure our model used for it (a
    singular fit falls back to a simpler one), on the same data."""
    participants_tsv = tmp_path / "participants.tsv"
    participants.to_csv(participants_tsv, sep="\t")
    by_structure = {}
    for region, fit in description["regions"].items():
        by_structure.setdefault(fit["model"], []).append(region)
    references = []
    for structure, regions in by_structure.items():
        volumes_tsv = tmp_path / f"volumes-{structure}.tsv"
        volumes[volumes["region"].isin(regions)].to_csv(
            volumes_tsv, sep="\t", index=False, float_format="%.17g"
        )
        references.append(
            lmer(volumes_tsv, participants_tsv, "HC", [], tmp_path / f"r-{structure}.tsv", structure)
        )
    return pd.concat(references, ignore_index=True)


@pytest.fixture(scope="module")
def study():
    return simulate_study(2023)


def test_schedules_differ_by_group(study):
    volumes, participants = study
    weeks = (volumes["years"] * WEEKS_PER_YEAR / 4).round() * 4
    by_group = weeks.groupby(volumes["participant_id"].map(participants["group"])).unique()
    assert sorted(set(by_group["HC"])) == [0, 48, 96]
    assert sorted(set(by_group["OCR"])) == [0, 24, 48, 96]


@pytest.mark.r
def test_the_patients_window_recovers_post_window_rates_and_agrees_with_lme4(study, tmp_path, lmer):
    volumes, participants = study
    settings = Settings("HC", **PATIENT_WINDOW)
    windowed, warnings = window(volumes, participants["group"], settings)
    controls = volumes[volumes["participant_id"].map(participants["group"]) == "HC"]
    assert controls.index.isin(windowed.index).all()  # every control session is in the window
    treated_baselines = volumes[volumes["participant_id"].map(participants["group"]).isin(TREATED)]
    assert not treated_baselines[treated_baselines["years"] == 0].index.isin(windowed.index).any()
    assert warnings == []
    tables = model_rates(windowed, participants, list(STUDY_REGIONS), settings)
    rates = tables["rates_by_group"]
    assert len(rates) == 15 and covered(rates) >= 13
    reference = lmer_reference(lmer, tmp_path, windowed, participants, tables["description"])
    compare_with_lmer(rates, tables["group_differences"], reference)


def test_without_the_window_the_treated_rates_carry_the_pseudo_atrophy(study):
    volumes, participants = study
    rates = model_rates(volumes, participants, list(STUDY_REGIONS), Settings("HC"))["rates_by_group"]
    wm = rates[rates["region"] == "white_matter"].set_index("group")
    for group in TREATED:
        planted = 100 * np.expm1(STUDY_RATES[group]["white_matter"] / 100)
        # the step spread over the follow-up makes the rate steeper than planted, beyond its CI
        assert wm.loc[group, "ci_high"] < planted
        assert wm.loc[group, "rate_pct_per_year"] - planted < PSEUDO_ATROPHY[group]["white_matter"] / 4
    assert (
        wm.loc["HC", "ci_low"]
        <= 100 * np.expm1(STUDY_RATES["HC"]["white_matter"] / 100)
        <= wm.loc["HC", "ci_high"]
    )


def test_the_all_groups_window_loses_the_control_baselines_and_says_so(study):
    volumes, participants = study
    group_of = participants["group"]
    settings = Settings("HC", window_start_weeks=24, rebaseline=True)
    windowed, warnings = window(volumes, group_of, settings)
    controls = windowed[windowed["participant_id"].map(group_of) == "HC"]
    all_controls = volumes[volumes["participant_id"].map(group_of) == "HC"]
    original_weeks = all_controls["years"] * WEEKS_PER_YEAR
    assert not all_controls[original_weeks < 1].index.isin(controls.index).any()
    assert len(controls) < 0.7 * len(all_controls)  # a third of their scans
    assert any("group HC has no session between its baseline and week 24" in w for w in warnings)
    assert any("applied to the reference group HC" in w for w in warnings)
    summary = cohort.window_summary(volumes, windowed, group_of)
    assert summary["HC"]["weeks"] == [48, 96] and summary["OCR"]["weeks"] == [24, 48, 96]


def test_a_window_leaving_a_group_without_two_sessions_is_an_error_naming_it(study):
    volumes, participants = study
    settings = Settings("HC", window_start_weeks=60, window_groups=("HC",))
    with pytest.raises(InputError, match="group HC has no subject with two sessions"):
        window(volumes, participants["group"], settings)
    with pytest.raises(InputError, match="window.groups.*PLACEBO"):
        window(
            volumes, participants["group"], Settings("HC", window_start_weeks=24, window_groups=("PLACEBO",))
        )


@pytest.mark.r
def test_icv_fraction_recovers_planted_rates_under_icv_drift_and_agrees_with_lme4(tmp_path, lmer):
    volumes, participants = simulate_study(7, pseudo_atrophy=False, icv_drift_pct=0.3)
    icv, source = cohort.session_icv(volumes)
    assert source == "sessions.tsv icv"
    volumes = volumes.assign(icv_fraction=volumes["volume_mm3"] / icv)
    settings = Settings("HC", outcome="icv_fraction")
    tables = model_rates(volumes, participants, list(STUDY_REGIONS), settings)
    assert covered(tables["rates_by_group"]) >= 13
    absolute = model_rates(volumes, participants, list(STUDY_REGIONS), Settings("HC"))["rates_by_group"]
    assert covered(absolute) < 13  # the drift is in the absolute volumes, not in the fractions
    drift = icv_drift(*session_rows(volumes, icv), source=source)
    assert drift["drifts"] and drift["ci_low"] <= 100 * np.expm1(0.003) <= drift["ci_high"]
    warning = drift_warning(drift)
    assert f"{drift['slope_pct_per_year']:+.2f} %/yr" in warning and "will disagree by about" in warning
    fractions = volumes.assign(volume_mm3=volumes["icv_fraction"])  # R models the column volume_mm3
    reference = lmer_reference(lmer, tmp_path, fractions, participants, tables["description"])
    compare_with_lmer(tables["rates_by_group"], tables["group_differences"], reference)


def test_without_drift_the_check_stays_silent():
    volumes, _ = simulate_study(8, pseudo_atrophy=False, icv_drift_pct=0.0)
    icv, source = cohort.session_icv(volumes)
    drift = icv_drift(*session_rows(volumes, icv), source=source)
    assert not drift["drifts"] and drift_warning(drift) is None
    assert abs(drift["slope_pct_per_year"]) < 0.05


def test_session_icv_falls_back_to_the_labelled_volume():
    volumes = pd.DataFrame({"labelled_mm3": [1.0, 2.0], "session_icv_mm3": [1.5, np.nan]})
    icv, source = cohort.session_icv(volumes)
    assert icv.tolist() == [1.0, 2.0] and source == "labelled volume of each session"


@pytest.mark.slow
def test_a_drifting_icv_is_reported_in_the_log_analysis_json_and_front_page(tiny_cohort, tmp_path):
    """A real run on label images whose sessions.tsv gives an ICV growing 0.3 %/yr (adult
    heads do not grow), measured with 0.05 % noise as an ICV estimate is: the fractions are
    modelled, and the drift is said everywhere."""
    from datetime import datetime

    from conftest import cohort_config, run_snakemake

    from brain_atrophy.tables import read_frame

    cohort = Path(shutil.copytree(tiny_cohort, tmp_path / "cohort"))
    written = {}
    # with no noise at all the residual variance is 0 and the model has no CI to give
    rng = np.random.default_rng(3)
    for number, table in enumerate(sorted((cohort / "bids").glob("sub-*/sub-*_sessions.tsv"))):
        sessions = read_frame(table)
        times = [datetime.fromisoformat(t) for t in sessions["acq_time"]]
        years = np.array([(t - times[0]).days / 365.25 for t in times])
        noise = np.exp(rng.normal(0, 5e-4, len(years)))
        sessions["icv"] = (1.4e6 + 2e4 * number) * np.exp(0.003 * years) * noise
        sessions.to_csv(table, sep="\t", index=False, float_format="%.17g")
        subject = table.name.removesuffix("_sessions.tsv")
        written.update(
            {(subject, s): v for s, v in zip(sessions["session_id"], sessions["icv"], strict=True)}
        )
    out = tmp_path / "out"
    result = run_snakemake(*cohort_config(cohort, out, outcome="icv_fraction"), cwd=tmp_path)
    description = json.loads((out / "group" / "analysis.json").read_text())
    assert (
        description["outcome"] == "icv_fraction" and description["outcome_icv_source"] == "sessions.tsv icv"
    )
    drift = read_frame(out / "group" / "icv_drift.tsv").iloc[0]
    assert bool(drift["drifts"]) and drift["ci_low"] <= 100 * np.expm1(0.003) <= drift["ci_high"]
    warnings = [w for w in description["warnings"] if w.startswith("ICV drift")]
    assert len(warnings) == 1
    assert f"brain-atrophy: WARNING: {warnings[0]}" in result.stderr
    assert warnings[0] in (out / "logs" / "group_statistics.log").read_text()
    assert warnings[0] in html.unescape((out / "report.html").read_text())
    volumes = read_frame(out / "group" / "volumes.tsv")
    expected = [written[key] for key in zip(volumes["participant_id"], volumes["session_id"], strict=True)]
    np.testing.assert_allclose(volumes["volume_mm3"] / volumes["icv_fraction"], expected, rtol=1e-12)
    assert "fraction of the same session's intracranial volume" in (out / "group" / "methods.md").read_text()


def test_an_icv_drift_that_cannot_be_estimated_is_unknown_not_nan():
    """One subject with two sessions is too few; analysis.json must stay strict JSON."""
    sessions = pd.DataFrame({"participant_id": ["sub-1", "sub-1", "sub-2"], "years": [0.0, 1.0, 0.0]})
    row = icv_drift(sessions, pd.Series([1.4e6, 1.41e6, 1.5e6]), "sessions.tsv icv")
    assert not row["drifts"] and drift_warning(row) is None
    json.dumps(row, allow_nan=False)


def test_an_icv_constant_within_subjects_does_not_drift():
    """Label images whose lost tissue is relabelled as CSF keep every labelled voxel: the ICV is
    exactly constant per subject, which is no drift (and no model to fit)."""
    sessions = pd.DataFrame({"participant_id": ["a", "a", "b", "b", "c"], "years": [0.0, 1.0, 0.0, 2.0, 0.0]})
    row = icv_drift(
        sessions, pd.Series([1.4e6, 1.4e6, 1.5e6, 1.5e6, 1.6e6]), "labelled volume of each session"
    )
    assert row["slope_pct_per_year"] == 0.0 and not row["drifts"]


def test_the_drift_check_runs_on_the_sessions_left_after_exclusions():
    volumes, _ = simulate_study(9, n_per_group=(6, 6, 6), pseudo_atrophy=False)
    icv, _ = cohort.session_icv(volumes)
    kept = volumes[volumes["participant_id"] != volumes["participant_id"].iloc[0]]
    sessions, kept_icv = session_rows(kept, icv)
    assert len(sessions) == kept[["participant_id", "session_id"]].drop_duplicates().shape[0]
    assert (kept_icv.to_numpy() == kept.loc[sessions.index, "session_icv_mm3"].to_numpy()).all()
