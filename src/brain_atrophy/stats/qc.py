"""Quality control of the measured volumes: sessions that break from their subject's trend,
regions that are absent or tiny, each subject's usable follow-up and, with change_measure:
jacobian, follow-ups whose registration to the baseline failed or aligned poorly."""

from __future__ import annotations

import pandas as pd

from .rates import log100, log100_slopes, pct

QC_COLUMNS = [
    "participant_id", "session_id", "years", "flagged", "flags", "n_sessions", "followup_years",
]  # fmt: skip


GRID_TOLERANCE = 1e-3


def grid_changed(data: pd.DataFrame) -> pd.Series:
    """Rows whose voxel volume departs from the subject's first session's (sorted by years)."""
    if "voxel_mm3" not in data:
        return pd.Series(False, index=data.index)
    first = data.sort_values("years", kind="stable").groupby("participant_id")["voxel_mm3"].first()
    baseline = data["participant_id"].map(first)
    return (data["voxel_mm3"] / baseline - 1).abs() > GRID_TOLERANCE


def scanner_changed(data: pd.DataFrame) -> pd.Series:
    """Rows of a subject's first session on an acquisition other than its previous session's
    (a scanner or protocol change: a step in every region, not atrophy)."""
    if "scanner" not in data:
        return pd.Series(False, index=data.index)
    sessions = data.drop_duplicates(["participant_id", "session_id"]).sort_values(
        ["participant_id", "years"], kind="stable"
    )
    previous = sessions.groupby("participant_id")["scanner"].shift()
    first_on_new = previous.notna() & (previous != sessions["scanner"])
    changed = sessions.loc[first_on_new, ["participant_id", "session_id"]]
    keys = pd.MultiIndex.from_frame(data[["participant_id", "session_id"]])
    return pd.Series(keys.isin(pd.MultiIndex.from_frame(changed)), index=data.index)


def session_flags(volumes: pd.DataFrame, max_change_pct_per_year: float, min_voxels: int) -> pd.DataFrame:
    """One row per session: which checks it fails (``flags``, ';'-separated) and its subject's
    usable sessions and follow-up.

    - ``implausible_change:<region>``: the annualized change from the subject's previous
      session differs from the subject's own rate by more than ``max_change_pct_per_year``;
    - ``absent:<region>`` / ``tiny:<region>``: no voxels, or fewer than ``min_voxels``;
    - ``grid_change``: the label image's voxel volume differs from the subject's first
      session's by more than 0.1 % (a change of scanner protocol or of resampling, a known
      source of spurious volume change);
    - ``scanner_change``: the subject's first session on a new acquisition.
    """
    data = volumes.sort_values(["participant_id", "region", "years"], kind="stable").copy()
    keys = ["participant_id", "region"]
    by_series = data.assign(log_volume=log100(data["volume_mm3"])).groupby(keys, sort=False)
    slope = pd.MultiIndex.from_frame(data[keys]).map(log100_slopes(data, keys))
    step_years = by_series["years"].diff()
    step_change = by_series["log_volume"].diff() / step_years.where(step_years > 0)
    deviation = (pct(step_change) - pct(pd.Series(slope, index=data.index))).abs()
    data["implausible"] = deviation > max_change_pct_per_year
    data["absent"] = data["n_voxels"] == 0
    data["tiny"] = (data["n_voxels"] > 0) & (data["n_voxels"] < min_voxels)
    data["grid_change"] = grid_changed(data)
    data["scanner_change"] = scanner_changed(data)
    # flagged rows are few: collect their flags per session (regions in data order), then one
    # pass over the sessions (a pandas selection per session took ~5 s at 3,000 sessions)
    found: dict[tuple, list[str]] = {}
    for column, prefix in (("implausible", "implausible_change:"), ("absent", "absent:"), ("tiny", "tiny:")):
        hits = data.loc[data[column], ["participant_id", "session_id", "region"]]
        for subject, session, region in hits.itertuples(index=False):
            found.setdefault((subject, session), []).append(prefix + region)
    sessions = data.groupby(["participant_id", "session_id"], sort=True).agg(
        years=("years", "first"), grid_change=("grid_change", "any"), scanner_change=("scanner_change", "any")
    )
    rows = []
    for (subject, session), years, grid, scanner in zip(
        sessions.index, sessions["years"], sessions["grid_change"], sessions["scanner_change"], strict=True
    ):
        flags = found.get((subject, session), []) + ["grid_change"] * grid + ["scanner_change"] * scanner
        rows.append(
            {
                "participant_id": subject,
                "session_id": session,
                "years": float(years),
                "flagged": bool(flags),
                "flags": ";".join(flags),
            }
        )
    table = pd.DataFrame(rows)
    years = table.groupby("participant_id")["years"]
    per_subject = pd.DataFrame({"n_sessions": years.size(), "followup_years": years.max() - years.min()})
    table = table.join(per_subject, on="participant_id")
    return flagged_first(table[QC_COLUMNS])


def flagged_first(table: pd.DataFrame) -> pd.DataFrame:
    """The QC table's order: flagged sessions first, then by subject and time."""
    return table.sort_values(["flagged", "participant_id", "years"], ascending=[False, True, True])


def add_registration_flags(table: pd.DataFrame, registration: pd.DataFrame) -> pd.DataFrame:
    """The QC table with each registered pair's flags (``registration``: the subjects'
    registration tables, ``flags`` comma-separated) added to its follow-up session's, so that a
    pair that failed or aligned poorly is flagged like any other session. Pairs of sessions the
    table lacks (not analysed) are left out."""
    if registration.empty or "flags" not in registration:
        return table
    flags = registration.assign(flags=registration["flags"].fillna("").astype(str))
    flags = flags[flags["flags"].str.strip() != ""]
    found: dict[tuple, list[str]] = {}
    for subject, session, text in flags[["participant_id", "session_id", "flags"]].itertuples(index=False):
        found.setdefault((subject, session), []).extend(f.strip() for f in text.split(",") if f.strip())
    if not found:
        return table
    table = table.copy()
    keys = list(zip(table["participant_id"], table["session_id"], strict=True))
    own = table["flags"].fillna("").astype(str)  # read back from qc.tsv, no flags is missing
    table["flags"] = [
        ";".join([text] * bool(text) + found.get(key, [])) for text, key in zip(own, keys, strict=True)
    ]
    table["flagged"] = table["flags"] != ""
    return flagged_first(table)
