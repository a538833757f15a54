"""A scanner upgrade mid-study through real Snakemake runs: detected from the T1w sidecars,
modelled as a step, checked against the planted truth and against lme4 on the same data."""

import json
import shutil
from datetime import date, timedelta

import pandas as pd
import pytest
from conftest import cohort_config, run_snakemake
from helpers import lmer_row

from brain_atrophy.stats.group import pct
from brain_atrophy.tables import read_frame
from brain_atrophy_demo import demo

pytestmark = pytest.mark.slow

GROUPS = {"HC": 20, "OCR": 20, "IFN": 20}
ENROLMENT_DAYS = 1300
UPGRADE = demo.ScannerUpgrade(date(2019, 1, 1) + timedelta(days=800), step=-0.02)
OLD, NEW = "Siemens Skyra 3T syngo MR E11", "Siemens Skyra 3T syngo MR XA30"


@pytest.fixture(scope="module")
def upgraded(atlas_path, tmp_path_factory):
    """One cohort, three groups, a 2 % step on 2021-03-11 (some subjects span it, others not),
    run with the default config (adjusted) and again with scanner_adjustment: false."""
    cohort = tmp_path_factory.mktemp("upgraded")
    # no pseudo-atrophy: this cohort is about the scanner step, analysed on every session
    demo.build_demo(
        cohort,
        atlas_path,
        GROUPS,
        seed=41,
        enrolment_days=ENROLMENT_DAYS,
        upgrade=UPGRADE,
        pseudo_atrophy=False,
    )
    work = tmp_path_factory.mktemp("upgraded-run")
    run_snakemake(*cohort_config(cohort, work / "out"), cwd=work)
    adjusted = shutil.copytree(work / "out" / "group", work / "adjusted")
    run_snakemake(*cohort_config(cohort, work / "out", scanner_adjustment=False), cwd=work)
    return cohort, work / "out", adjusted, work / "out" / "group"


def coverage(rates, truth):
    merged = rates.merge(truth, on=["group", "region"])
    assert len(merged) == 15  # 3 groups × 5 regions
    planted = merged["sample_mean_rate_pct_per_year"]
    return ((merged["ci_low"] <= planted) & (planted <= merged["ci_high"])).mean()


def test_acquisitions_are_read_from_the_inherited_sidecars(upgraded):
    cohort, out, adjusted, _ = upgraded
    acquisitions = read_frame(adjusted / "acquisitions.tsv")
    assert set(acquisitions["scanner"]) == {OLD, NEW}
    assert (acquisitions["Manufacturer"] == "Siemens").all()  # from the dataset-level T1w.json
    sessions = pd.concat(
        read_frame(p).assign(participant_id=p.parent.name)
        for p in (cohort / "bids").glob("sub-*/*_sessions.tsv")
    )
    sessions["on_new"] = pd.to_datetime(sessions["acq_time"]).dt.date >= UPGRADE.date
    merged = acquisitions.merge(sessions, on=["participant_id", "session_id"])
    assert len(merged) == len(acquisitions)
    assert ((merged["scanner"] == NEW) == merged["on_new"]).all()
    spans = merged.groupby("participant_id")["on_new"].agg(["min", "max"])
    spanning = int((spans["min"] != spans["max"]).sum())
    assert 0 < spanning < len(spans)  # some span the upgrade, some don't
    effects = read_frame(adjusted / "scanner_effects.tsv")
    assert (effects["n_subjects_spanning"] == spanning).all()


def test_adjusted_rates_hold_the_planted_rates(upgraded):
    cohort, _, adjusted, _ = upgraded
    truth = read_frame(cohort / "truth" / "groups.tsv")
    rates = read_frame(adjusted / "rates_by_group.tsv")
    assert coverage(rates, truth) >= 0.9
    description = json.loads((adjusted / "analysis.json").read_text())
    decision = description["scanner_adjustment"]
    assert decision["adjusted"] and decision["reference_scanner"] == OLD and decision["steps"] == [NEW]
    assert "+ scanner" in description["model"]


def test_the_step_interval_holds_the_planted_step(upgraded):
    cohort, _, adjusted, _ = upgraded
    planted = read_frame(cohort / "truth" / "scanner.tsv").set_index("region")["planted_step_pct"]
    effects = read_frame(adjusted / "scanner_effects.tsv").set_index("region")
    assert set(effects.index) == set(planted.index)
    assert (effects["scanner"] == NEW).all() and (effects["reference_scanner"] == OLD).all()
    # 95 % intervals: all five cover in only ~77 % of draws even when calibrated; 4 of 5 in ~98 %
    truth = planted.reindex(effects.index)
    covers = (effects["ci_low"] <= truth) & (truth <= effects["ci_high"])
    assert covers.sum() >= 4, effects.assign(planted=truth)[["step_pct", "ci_low", "ci_high", "planted"]]


def test_without_the_adjustment_the_same_cohort_misses(upgraded):
    cohort, _, adjusted, unadjusted = upgraded
    truth = read_frame(cohort / "truth" / "groups.tsv")
    rates = read_frame(unadjusted / "rates_by_group.tsv")
    assert coverage(rates, truth) <= 0.5
    assert read_frame(unadjusted / "scanner_effects.tsv").empty
    # the sensitivity table of the adjusted run shows both, side by side
    sensitivity = read_frame(adjusted / "sensitivity.tsv")
    plain = rates.set_index(["region", "group"])["rate_pct_per_year"]
    shown = sensitivity.set_index(["region", "group"])["unadjusted_group_rate_pct_per_year"]
    for key, value in shown.items():
        assert value == pytest.approx(plain[key], abs=1e-9)


def test_the_adjusted_run_agrees_with_lme4(upgraded, lmer, tmp_path):
    cohort, _, adjusted, _ = upgraded
    volumes = read_frame(adjusted / "volumes.tsv")
    volumes = volumes[volumes["in_window"] & ~volumes["excluded"]]
    volumes_tsv = tmp_path / "volumes.tsv"
    volumes.to_csv(volumes_tsv, sep="\t", index=False, na_rep="n/a")
    reference = lmer(
        volumes_tsv, cohort / "bids" / "participants.tsv", "HC", [], tmp_path / "r.tsv", reference_scanner=OLD
    )
    rates = read_frame(adjusted / "rates_by_group.tsv")
    for _, row in rates.iterrows():
        r = lmer_row(reference, "slope", row["group"], row["region"])
        assert abs(row["rate_pct_per_year"] - pct(r.estimate)) < 0.005
    differences = read_frame(adjusted / "group_differences.tsv")
    for _, row in differences.iterrows():
        r = lmer_row(reference, "difference", row["group"], row["region"])
        assert abs(row["slope_difference"] - r.estimate) < 0.005
        assert abs(row["p_value"] - r.p) < 1e-3
    effects = read_frame(adjusted / "scanner_effects.tsv")
    for _, row in effects.iterrows():
        r = reference[(reference.kind == "scanner") & (reference.region == row["region"])].iloc[0]
        assert r.term == NEW
        assert abs(row["step"] - r.estimate) < 0.005
        assert abs(row["step_pct"] - pct(r.estimate)) < 0.005
        assert abs(row["p_value"] - r.p) < 1e-3


def test_the_change_is_flagged_drawn_and_described(upgraded):
    _, out, adjusted, _ = upgraded
    qc = read_frame(out / "group" / "qc.tsv")
    acquisitions = read_frame(adjusted / "acquisitions.tsv")
    spanning = acquisitions.groupby("participant_id")["scanner"].nunique()
    flagged = qc[qc["flags"].fillna("").str.contains("scanner_change")]
    assert set(flagged["participant_id"]) == set(spanning[spanning > 1].index)
    assert flagged["participant_id"].is_unique  # the first session on the new scanner only
    methods = (adjusted / "methods.md").read_text()
    assert OLD in methods and NEW in methods and "session-level fixed effect" in methods
    assert (out / "figures" / "trajectories" / "whole_brain.png").stat().st_size > 10_000


def test_acquisition_confounded_with_group_is_not_adjusted_and_says_so(tiny_cohort, tmp_path):
    cohort = shutil.copytree(tiny_cohort, tmp_path / "cohort")
    for table in (cohort / "bids").glob("sub-*/*_sessions.tsv"):
        scanner = "Prisma" if "OCR" in table.name else "Skyra"
        lines = table.read_text().splitlines()
        table.write_text(
            "\n".join([lines[0] + "\tscanner"] + [f"{line}\t{scanner}" for line in lines[1:]]) + "\n"
        )
    result = run_snakemake(*cohort_config(cohort, tmp_path / "out"), cwd=tmp_path)
    assert "WARNING: scanner steps not modelled" in result.stderr and "confounded with group" in result.stderr
    group = tmp_path / "out" / "group"
    decision = json.loads((group / "analysis.json").read_text())["scanner_adjustment"]
    assert not decision["adjusted"] and "confounded with group" in decision["reason"]
    assert set(read_frame(group / "acquisitions.tsv")["source"]) == {"sessions.tsv"}
    assert "WARNING: the model was not adjusted" in (group / "methods.md").read_text()
    assert "scanner steps NOT modelled" in (tmp_path / "out" / "logs" / "group_statistics.log").read_text()
    assert read_frame(group / "scanner_effects.tsv").empty


def test_a_single_acquisition_changes_no_table(tiny_cohort, tmp_path):
    """auto on one acquisition is the model without steps, byte for byte."""
    outputs = {}
    for mode in ("auto", False):
        out = tmp_path / f"out-{mode}"
        run_snakemake(*cohort_config(tiny_cohort, out, scanner_adjustment=mode), cwd=tmp_path)
        outputs[mode] = out / "group"
    for name in (
        "rates_by_group",
        "group_differences",
        "pairwise_differences",
        "sensitivity",
        "power",
        "volumes",
        "subject_rates",
    ):
        assert (outputs["auto"] / f"{name}.tsv").read_text() == (
            outputs[False] / f"{name}.tsv"
        ).read_text(), name
    decision = json.loads((outputs["auto"] / "analysis.json").read_text())["scanner_adjustment"]
    assert not decision["adjusted"] and decision["reason"] == "one acquisition (unknown)"
    sensitivity = read_frame(outputs["auto"] / "sensitivity.tsv")
    assert not any(c.startswith("unadjusted_") for c in sensitivity.columns)
