"""change_measure: jacobian end to end: a planted longitudinal cohort made by deforming a real
T1w (brain_atrophy_demo.deform), run by real Snakemake with ANTs registration at 3 mm.

The truth is the planted deformation's (truth/rates.tsv), never the pipeline's. One run is
shared: the cohort's last session of one subject is held back, then added, so the same run
also shows that adding a session registers only that session."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conftest import REPO, cohort_config, job_counts, run_snakemake
from helpers import TOLERANCE_PCT, lmer_row

from brain_atrophy import paths
from brain_atrophy.stats.group import pct
from brain_atrophy.tables import read_frame
from brain_atrophy_demo.deform import build_study

GROUPS = {"HC": 6, "MS": 6}
WEEKS = (0, 48, 96)
HELD_BACK = ("HC01", "w96")
pytestmark = pytest.mark.slow
# 3 mm keeps the suite's budget, with the coarse levels only and the step and N4 levels measured
# at 3 mm (the defaults are set and benchmarked at 1 mm: at 3 mm their step of 0.5 voxel read a
# pseudo-rescan's cerebellum at -0.58 to -0.70 %, tests/test_register_pair.py). One thread a job:
# Snakemake then runs two pairs at once on the 2 cores, which costs less CPU than one pair on two
# threads (a 3 mm pair: 4.4 s of CPU against 4.8-5.7 s).
REGISTRATION = {"iterations": [40, 20, 0], "gradient_step": 0.2, "bias_field_levels": 4, "threads": 1}


def session_files(study, subject, session):
    """Every file of one session: the raw T1w folder and its follow-up labels."""
    return [
        paths.session_dir(study / "bids", subject, session),
        paths.session_dir(study / "derivatives" / "segmentation", subject, session),
    ]


def counts_of(*args, cwd) -> dict[str, int]:
    """{rule: jobs} of a Snakemake run (a real run prints its job table on stderr)."""
    result = run_snakemake(*args, cwd=cwd, timeout=1200)
    return job_counts(result.stdout + result.stderr)


@pytest.fixture(scope="module")
def jacobian_run(tmp_path_factory):
    """The cohort run without one follow-up, then with it: (study, out, first run's and
    second run's job counts, the registrations' modification times before the second run)."""
    study = tmp_path_factory.mktemp("jacobian")
    build_study(study, REPO / ".cache", GROUPS, WEEKS, voxel_mm=3.0, followup_labels=True, seed=7)
    (study / "held").mkdir()
    held = study / "held"
    for k, folder in enumerate(session_files(study, *HELD_BACK)):
        shutil.move(folder, held / str(k))
    out = study / "out"
    config = cohort_config(study, out, change_measure="jacobian", registration=REGISTRATION)
    first = counts_of(*config, cwd=study)
    registrations = {p: p.stat().st_mtime_ns for p in (out / paths.REGISTRATION).rglob("*_jacobian.nii.gz")}
    for k, folder in enumerate(session_files(study, *HELD_BACK)):
        shutil.move(held / str(k), folder)
    planned = counts_of(*config, "--dry-run", cwd=study)
    second = counts_of(*config, cwd=study)
    return {"study": study, "out": out, "config": config, "first": first, "planned": planned,
            "second": second, "registrations": registrations}  # fmt: skip


def test_every_follow_up_is_registered_once(jacobian_run):
    n_pairs = sum(GROUPS.values()) * (len(WEEKS) - 1)
    assert jacobian_run["first"]["register_session"] == n_pairs - 1
    assert jacobian_run["first"]["subject_volumes"] == sum(GROUPS.values())


def test_adding_a_session_registers_that_session_only(jacobian_run):
    for counts in (jacobian_run["planned"], jacobian_run["second"]):
        assert counts["register_session"] == 1
        assert counts["subject_volumes"] == 1
    for path, mtime in jacobian_run["registrations"].items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was registered again"


def test_a_new_region_table_reintegrates_without_registering(jacobian_run, tmp_path):
    regions = tmp_path / "regions.tsv"
    regions.write_text("region\tlabels\nthalamus\t10 49\nputamen\t12 51\n")
    config = cohort_config(
        jacobian_run["study"], jacobian_run["out"], change_measure="jacobian", registration=REGISTRATION,
        regions=str(regions),
    )  # fmt: skip
    counts = counts_of(*config, "--dry-run", cwd=jacobian_run["study"])
    assert "register_session" not in counts
    assert counts["subject_volumes"] == sum(GROUPS.values())


def planted_rates(study) -> pd.DataFrame:
    return read_frame(study / "truth" / "rates.tsv")


# Regions of at least this many 3 mm voxels (27 mm³) are held to the planted rates here. The
# thalamus (~20 ml, ~750 voxels) is not: at 3 mm its contraction and the stretch of the tissue
# around it fall in the same few voxels and the measured change does not follow the planted one
# (docs/performance.md#registration); its bar is checked at 1 mm (benchmarks/registration.py).
MIN_TEST_VOXELS = 2000


def test_group_rates_cover_the_planted_rates(jacobian_run):
    rates = read_frame(paths.group_table(jacobian_run["out"], "rates_by_group"))
    planted = planted_rates(jacobian_run["study"])
    volumes = read_frame(paths.group_table(jacobian_run["out"], "volumes"))
    voxels = volumes[volumes["method"] == "jacobian"].groupby("region")["n_voxels"].min()
    planted = planted[planted["region"].map(voxels) >= MIN_TEST_VOXELS]
    merged = planted.merge(rates, on=["group", "region"])
    assert len(merged) == len(planted) >= 2
    low, high = merged["ci_low"], merged["ci_high"]
    truth = merged["rate_pct_per_year_x"]
    shown = ["group", "region", "rate_pct_per_year_x", "ci_low", "ci_high"]
    missed = merged.loc[~((low <= truth) & (truth <= high)), shown]
    assert missed.empty, f"planted rates outside the CIs:\n{missed}"


def test_analysis_says_which_measure_and_compares_both(jacobian_run):
    description = json.loads((jacobian_run["out"] / paths.GROUP / "analysis.json").read_text())
    assert description["change_measure"] == "jacobian"
    by_measure = read_frame(paths.group_table(jacobian_run["out"], "rates_by_measure"))
    assert set(by_measure["method"]) == {"labels", "jacobian"}
    assert (by_measure["ci_width"] > 0).all()


@pytest.mark.r
def test_rates_agree_with_lme4_on_the_jacobian_volumes(jacobian_run, lmer, tmp_path):
    volumes = read_frame(paths.group_table(jacobian_run["out"], "volumes"))
    modelled = volumes[(volumes["method"] == "jacobian") & ~volumes["excluded"].astype(bool)]
    volumes_tsv = tmp_path / "volumes.tsv"
    modelled.to_csv(volumes_tsv, sep="\t", index=False, float_format="%.17g")
    participants = jacobian_run["study"] / "bids" / "participants.tsv"
    reference = lmer(volumes_tsv, participants, "HC", [], tmp_path / "r.tsv")
    rates = read_frame(paths.group_table(jacobian_run["out"], "rates_by_group"))
    # the regions held to their planted rates here: the thalamus's fit at 3 mm is flat (its rate's
    # SE ~1.4 %/yr), and there the two optimizers have parted by up to 0.0052 %/yr
    voxels = modelled.groupby("region")["n_voxels"].min()
    rates = rates[rates["region"].map(voxels) >= MIN_TEST_VOXELS]
    assert len(rates) >= 8
    for _, row in rates.iterrows():
        r = lmer_row(reference, "slope", row["group"], row["region"])
        assert abs(row["rate_pct_per_year"] - pct(r.estimate)) < TOLERANCE_PCT
