"""The QC table's per-session flags, on volumes with planted faults, and the registration
flags of change_measure: jacobian."""

import numpy as np
import pandas as pd

from brain_atrophy.stats.columns import measure_rows
from brain_atrophy.stats.qc import add_registration_flags, session_flags


def volumes(rows):
    columns = ["participant_id", "session_id", "years", "region", "volume_mm3", "n_voxels", "voxel_mm3"]
    return pd.DataFrame(rows, columns=columns)


def steady(subject, region="thalamus", voxel=1.0, start=10_000.0, rate=-0.01, jump=None):
    rows = []
    for k, years in enumerate((0.0, 0.5, 1.0, 1.5)):
        volume = start * (1 + rate) ** years * (jump if jump and k == 2 else 1)
        size = voxel[k] if isinstance(voxel, tuple) else voxel
        rows.append((subject, f"ses-{k}", years, region, volume, round(volume / size), size))
    return rows


def flags_of(table, subject, session):
    row = table[(table["participant_id"] == subject) & (table["session_id"] == session)]
    return row["flags"].item()


def test_a_steady_subject_is_not_flagged():
    table = session_flags(volumes(steady("sub-a")), max_change_pct_per_year=5, min_voxels=50)
    assert not table["flagged"].any()
    assert table["n_sessions"].eq(4).all() and table["followup_years"].eq(1.5).all()


def test_a_jump_against_the_subjects_trend_is_flagged():
    table = session_flags(volumes(steady("sub-a", jump=0.9)), max_change_pct_per_year=5, min_voxels=50)
    assert "implausible_change:thalamus" in flags_of(table, "sub-a", "ses-2")
    assert table.iloc[0]["flagged"]  # flagged sessions first


def test_absent_and_tiny_regions_are_flagged():
    rows = steady("sub-a") + steady("sub-a", region="lesion", start=20.0, rate=0.0)
    rows = [r if not (r[1] == "ses-3" and r[3] == "lesion") else (*r[:4], 0.0, 0, r[6]) for r in rows]
    table = session_flags(volumes(rows), max_change_pct_per_year=1e9, min_voxels=50)
    assert flags_of(table, "sub-a", "ses-0") == "tiny:lesion"
    assert flags_of(table, "sub-a", "ses-3") == "absent:lesion"


def test_a_change_of_voxel_size_is_flagged_from_that_session_on():
    rows = steady("sub-a", voxel=(1.0, 1.0, 0.9, 0.9)) + steady("sub-b")
    table = session_flags(volumes(rows), max_change_pct_per_year=1e9, min_voxels=50)
    assert [flags_of(table, "sub-a", f"ses-{k}") for k in range(4)] == ["", "", "grid_change", "grid_change"]
    assert not table[table["participant_id"] == "sub-b"]["flagged"].any()


def test_the_first_session_on_a_new_acquisition_is_flagged():
    rows = steady("sub-a") + steady("sub-b") + steady("sub-c", region="lesion")
    table = volumes(rows)
    # sub-a upgraded at its third session; sub-b always on the new scanner; sub-c back and forth
    scanner = {
        "sub-a": ["old", "old", "new", "new"],
        "sub-b": ["new"] * 4,
        "sub-c": ["old", "new", "old", "old"],
    }
    keys = zip(table["participant_id"], table["session_id"], strict=True)
    table["scanner"] = [scanner[s][int(k[-1])] for s, k in keys]
    flags = session_flags(table, max_change_pct_per_year=1e9, min_voxels=1)
    assert [flags_of(flags, "sub-a", f"ses-{k}") for k in range(4)] == ["", "", "scanner_change", ""]
    assert not flags[flags["participant_id"] == "sub-b"]["flagged"].any()
    assert [flags_of(flags, "sub-c", f"ses-{k}") for k in range(4)] == [
        "",
        "scanner_change",
        "scanner_change",
        "",
    ]


def registration(rows):
    """Registration table rows (participant_id, session_id, flags), as the subject job writes them."""
    return pd.DataFrame(
        [
            {"participant_id": s, "session_id": k, "baseline_session_id": "ses-0", "flags": f}
            for s, k, f in rows
        ]
    )


def test_registration_flags_join_their_follow_ups_session():
    rows = steady("sub-a", jump=0.9) + steady("sub-b") + steady("sub-c")
    table = session_flags(volumes(rows), max_change_pct_per_year=5, min_voxels=50)
    pairs = registration(
        [
            ("sub-a", "ses-2", "poor_alignment"),  # a session flagged already
            ("sub-b", "ses-1", "registration_failed,poor_alignment"),
            ("sub-b", "ses-3", np.nan),  # no flags: read back from the TSV as missing
            ("sub-c", "ses-1", ""),
            ("sub-z", "ses-1", "registration_failed"),  # not analysed: not in the QC table
        ]
    )
    flagged = add_registration_flags(table, pairs)
    assert flags_of(flagged, "sub-a", "ses-2") == "implausible_change:thalamus;poor_alignment"
    assert flags_of(flagged, "sub-b", "ses-1") == "registration_failed;poor_alignment"
    assert [flags_of(flagged, "sub-b", f"ses-{k}") for k in (0, 2, 3)] == ["", "", ""]
    assert not flagged[flagged["participant_id"] == "sub-c"]["flagged"].any()
    assert len(flagged) == len(table) and "sub-z" not in set(flagged["participant_id"])
    # flagged sessions first, sub-b's follow-up among them
    assert flagged["flagged"].tolist() == sorted(flagged["flagged"], reverse=True)
    row = flagged[(flagged["participant_id"] == "sub-b") & (flagged["session_id"] == "ses-1")]
    assert row["flagged"].item()
    assert add_registration_flags(table, pd.DataFrame()).equals(table)


def test_a_table_with_both_measures_is_checked_on_the_modelled_ones_rows():
    jacobian = volumes(steady("sub-a")).assign(method="jacobian")
    labels = volumes(steady("sub-a", jump=0.9)).assign(method="labels")  # a jump only the label counts have
    table = session_flags(measure_rows(pd.concat([jacobian, labels], ignore_index=True)), 5, 50)
    assert len(table) == 4 and not table["flagged"].any()
