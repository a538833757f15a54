"""The simulated cohorts the statistics tests and benchmarks draw: layout, seeds, planted truth;
and the demo cohort's visit schedules and planted pseudo-atrophy, read back from its files."""

from datetime import datetime

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brain_atrophy.tables import read_frame
from brain_atrophy_demo import demo
from brain_atrophy_demo.simulate import GROUP_RATES, add_scanner_upgrade, simulate_volumes

WEEKS = (0, 24, 48, 96)
COLUMNS = ["participant_id", "session_id", "years", "region", "method", "volume_mm3", "n_voxels"]


def test_layout_of_the_volume_and_participant_tables():
    volumes, participants = simulate_volumes(1, n_per_group=(3, 4, 5))
    assert list(volumes.columns) == COLUMNS
    assert participants.index.name == "participant_id"
    assert list(participants.columns) == ["group", "age", "sex"]
    assert participants["group"].value_counts().to_dict() == {"HC": 3, "OCR": 4, "IFN": 5}
    assert set(volumes["participant_id"]) == set(participants.index)
    assert set(volumes["session_id"]) <= {f"ses-w{w}" for w in WEEKS} and set(volumes["region"]) == {"brain"}
    assert not volumes.duplicated(["participant_id", "session_id"]).any()
    # every subject has its baseline at year 0; later visits within 5 days of their week
    baseline = volumes[volumes["session_id"] == "ses-w0"]
    assert len(baseline) == len(participants) and (baseline["years"] == 0).all()
    weeks = volumes["session_id"].str[5:].astype(int)
    assert ((volumes["years"] * 365.25 - 7 * weeks).abs() <= 5).all()
    assert (volumes["volume_mm3"] > 0).all()


def test_every_visit_is_kept_without_dropouts():
    volumes, participants = simulate_volumes(2, n_per_group=(5, 5, 5), drop=0.0)
    assert len(volumes) == len(WEEKS) * len(participants)
    kept, _ = simulate_volumes(2, n_per_group=(40, 40, 40), drop=0.5)
    assert len(WEEKS) * 120 * 0.5 < len(kept) < len(WEEKS) * 120  # about half the follow-ups missed


def test_a_seed_fixes_the_draw():
    first, people = simulate_volumes(3, n_per_group=(6, 6, 6))
    again, people_again = simulate_volumes(3, n_per_group=(6, 6, 6))
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(people, people_again)
    other, _ = simulate_volumes(4, n_per_group=(6, 6, 6))
    assert not np.array_equal(first["volume_mm3"].to_numpy()[:18], other["volume_mm3"].to_numpy()[:18])


def ols_slopes(volumes):
    """Each subject's least-squares slope of 100·ln(volume) on years (subjects with ≥ 2 visits)."""
    slopes = {}
    for subject, rows in volumes.groupby("participant_id"):
        if len(rows) >= 2:
            slopes[subject] = np.polyfit(rows["years"], 100 * np.log(rows["volume_mm3"]), 1)[0]
    return pd.Series(slopes)


def test_the_planted_group_rates_are_the_subjects_mean_slopes():
    volumes, participants = simulate_volumes(5, n_per_group=(200, 200, 200))
    means = ols_slopes(volumes).groupby(participants["group"]).mean()
    # a subject's slope is off by ~0.2 %/yr (noise and its own random slope): a mean of ~200, ~0.015
    for group, rate in GROUP_RATES.items():
        assert means[group] == pytest.approx(rate, abs=0.06), (group, means[group])


def test_without_slope_spread_or_noise_every_subject_has_its_groups_rate():
    volumes, participants = simulate_volumes(6, n_per_group=(4, 4, 4), slope_sd=0.0, noise_sd=0.0)
    slopes = ols_slopes(volumes)
    expected = participants.loc[slopes.index, "group"].map(GROUP_RATES)
    np.testing.assert_allclose(slopes, expected, atol=1e-6)


def test_the_scanner_upgrade_scales_every_session_from_its_date_on():
    volumes, _ = simulate_volumes(7, n_per_group=(30, 30, 30))
    upgraded = add_scanner_upgrade(volumes, 7, step_pct=-2.0)
    pd.testing.assert_frame_equal(upgraded, add_scanner_upgrade(volumes, 7, step_pct=-2.0))
    assert set(upgraded["scanner"]) == {"Skyra E11", "Skyra XA30"}
    new = upgraded["scanner"] == "Skyra XA30"
    np.testing.assert_allclose(upgraded.loc[new, "volume_mm3"], volumes.loc[new, "volume_mm3"] * 0.98)
    np.testing.assert_array_equal(upgraded.loc[~new, "volume_mm3"], volumes.loc[~new, "volume_mm3"])
    # a subject never goes back to the old scanner after a session on the new one
    for _, rows in upgraded.sort_values("years").groupby("participant_id"):
        on_new = (rows["scanner"] == "Skyra XA30").to_numpy()
        assert (np.diff(on_new.astype(int)) >= 0).all()
    # some subjects span the upgrade (what makes the step estimable)
    spanning = upgraded.groupby("participant_id")["scanner"].nunique()
    assert (spanning == 2).sum() >= 5


def demo_sessions(cohort) -> pd.DataFrame:
    """Every session of a demo cohort: participant_id, group, week (from its label 'ses-w24'),
    and days since the subject's first session (from sessions.tsv acq_time)."""
    participants = read_frame(cohort / "bids" / "participants.tsv").set_index("participant_id")
    rows = []
    for subject, group in participants["group"].items():
        sessions = read_frame(cohort / "bids" / subject / f"{subject}_sessions.tsv")
        times = [datetime.fromisoformat(t) for t in sessions["acq_time"]]
        for session, time in zip(sessions["session_id"], times, strict=True):
            rows.append(
                {
                    "participant_id": subject,
                    "group": group,
                    "session_id": session,
                    "week": int(session.removeprefix("ses-w")),
                    "days": (time - min(times)).days,
                }
            )
    return pd.DataFrame(rows)


def test_the_demo_scans_controls_without_week_24(small_cohort):
    """As in the OPERA II MRI substudy: controls at weeks 0, 48 and 96, treated groups also at
    week 24; each visit within 5 days of its week; the truth lists the same schedules."""
    sessions = demo_sessions(small_cohort)
    weeks = sessions.groupby("group")["week"].agg(lambda w: sorted(set(w))).to_dict()
    assert weeks == {"HC": [0, 48, 96], "OCR": [0, 24, 48, 96], "IFN": [0, 24, 48, 96]}
    assert ((sessions["days"] - 7 * sessions["week"]).abs() <= 5).all()
    truth = read_frame(small_cohort / "truth" / "groups.tsv").drop_duplicates("group").set_index("group")
    for group, visits in weeks.items():
        assert truth.loc[group, "visit_weeks"] == " ".join(map(str, visits))


def white_matter_voxels(cohort, subject, session) -> int:
    path = next((cohort / "derivatives" / "segmentation" / subject / session / "anat").glob("*_dseg.nii.gz"))
    return int(np.isin(np.asarray(nib.load(path).dataobj), demo.TISSUES["white_matter"]).sum())


def test_the_demo_plants_pseudo_atrophy_in_the_treated_groups_only(small_cohort):
    """Counted in the label images, each subject's white matter between two visits changes by its
    planted slope over the time between them plus, from baseline to week 24 in the treated
    groups, the planted pseudo-atrophy step; nothing more from week 24 to 48, nor in the
    controls from baseline to week 48. Group means, within 3 SE of measurement noise."""
    planted = read_frame(small_cohort / "truth" / "pseudo_atrophy.tsv")
    planted = planted[planted["region"] == "white_matter"].set_index("group")["planted_step_pct"]
    assert planted.to_dict() == {g: steps["white_matter"] for g, steps in demo.PSEUDO_ATROPHY_PCT.items()}
    slopes = read_frame(small_cohort / "truth" / "subjects.tsv")
    slopes = slopes[slopes["region"] == "white_matter"].set_index("participant_id")["planted_log_slope"]
    sessions = demo_sessions(small_cohort).set_index(["participant_id", "week"])
    intervals = {"HC": [(0, 48)], "OCR": [(0, 24), (24, 48)], "IFN": [(0, 24), (24, 48)]}
    for group, pairs in intervals.items():
        for first, second in pairs:
            residuals = []
            for subject in sessions.loc[sessions["group"] == group].index.unique("participant_id"):
                if (subject, first) not in sessions.index or (subject, second) not in sessions.index:
                    continue
                a, b = sessions.loc[(subject, first)], sessions.loc[(subject, second)]
                change = np.log(white_matter_voxels(small_cohort, subject, b["session_id"]))
                change -= np.log(white_matter_voxels(small_cohort, subject, a["session_id"]))
                residuals.append(change - slopes[subject] * (b["days"] - a["days"]) / 365.25)
            expected = np.log1p(planted.get(group, 0.0) / 100) if (first, second) == (0, 24) else 0.0
            se = np.sqrt(2) * demo.NOISE_SD / 100 / np.sqrt(len(residuals))
            assert len(residuals) >= 4, (group, first, second)
            assert abs(np.mean(residuals) - expected) < 3 * se, (group, first, second, np.mean(residuals))
