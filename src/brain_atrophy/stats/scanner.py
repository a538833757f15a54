"""Scanner and protocol changes as a step in the mixed model, and when that step can be known.

An upgrade shifts every region's volume at once by a few per cent; left in the data, the step
goes into the slopes. The model's answer is a session-level fixed effect per acquisition (a
step in 100·ln(volume) relative to a reference acquisition). It is identified by subjects
scanned on both sides of the change: their within-subject change separates the step from the
slope. With too few of them, or when acquisition is confounded with group, the step cannot be
told from the rates, and the pipeline says so instead of adjusting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..inputs.acquisitions import UNKNOWN  # noqa: F401  (the acquisition of sessions without metadata)
from .rates import pct

# Subjects scanned on a non-reference acquisition *and* on another one, needed (by default) for
# `scanner_adjustment: auto` to model its step: with fewer, the step's estimate rests on a
# handful of within-subject differences and its error swamps a yearly rate.
MIN_SPANNING_SUBJECTS = 5


@dataclass(frozen=True)
class Decision:
    """Whether the model gets acquisition steps, and why (recorded in analysis.json)."""

    mode: str
    adjusted: bool
    reason: str
    reference: str | None = None
    levels: tuple[str, ...] = ()  # the non-reference acquisitions, each a step
    acquisitions: dict = field(default_factory=dict)

    @property
    def identifiable_problem(self) -> bool:
        """Several acquisitions but no adjustment for want of data: the loud case."""
        return not self.adjusted and len(self.acquisitions) > 1 and self.mode != "false"

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "adjusted": self.adjusted,
            "reason": self.reason,
            "reference_scanner": self.reference,
            "steps": list(self.levels),
            "acquisitions": self.acquisitions,
        }


def reference_acquisition(sessions: pd.DataFrame) -> str:
    """The acquisition most subjects were first scanned on (ties: alphabetical): steps are then
    read as 'relative to where the study started'."""
    first = sessions.sort_values("years", kind="stable").drop_duplicates("participant_id")
    counts = first["scanner"].value_counts()
    return sorted(counts.index[counts == counts.max()])[0]


def spanning_subjects(sessions: pd.DataFrame, scanner: str) -> int:
    """Subjects with sessions on ``scanner`` and on at least one other acquisition."""
    per_subject = sessions.groupby("participant_id")["scanner"]
    on = per_subject.apply(lambda s: (s == scanner).any())
    off = per_subject.apply(lambda s: (s != scanner).any())
    return int((on & off).sum())


def acquisition_summary(sessions: pd.DataFrame) -> dict:
    """Per acquisition: sessions, subjects, subjects spanning it and another, and groups."""
    summary = {}
    for scanner, rows in sessions.groupby("scanner", sort=True):
        summary[scanner] = {
            "n_sessions": int(len(rows)),
            "n_subjects": int(rows["participant_id"].nunique()),
            "n_subjects_spanning": spanning_subjects(sessions, scanner),
            "groups": sorted(rows["group"].unique()),
        }
    return summary


def confounded_with_group(sessions: pd.DataFrame, groups: list[str], levels) -> bool:
    """Whether the steps cannot be separated from the group terms: the session-level design
    ``group + group:years + scanner`` is rank deficient."""
    columns = [(sessions["group"] == g).to_numpy(float) for g in groups]
    columns += [(sessions["group"] == g).to_numpy(float) * sessions["years"].to_numpy(float) for g in groups]
    columns += [(sessions["scanner"] == level).to_numpy(float) for level in levels]
    X = np.column_stack(columns)
    return int(np.linalg.matrix_rank(X)) < X.shape[1]


def decide(
    sessions: pd.DataFrame, groups: list[str], mode: str = "auto", min_spanning: int = MIN_SPANNING_SUBJECTS
) -> Decision:
    """Adjust or not. ``sessions``: one row per analysed session with participant_id, group,
    years and scanner. ``mode``: 'auto' adjusts when there are two or more acquisitions, each
    non-reference one has ``min_spanning`` subjects also scanned on another, and acquisition is
    not confounded with group; 'true' adjusts whenever the steps are estimable; 'false' never."""
    summary = acquisition_summary(sessions)
    if len(summary) < 2:
        only = next(iter(summary), None)
        return Decision(mode, False, f"one acquisition ({only})", only, (), summary)
    reference = reference_acquisition(sessions)
    levels = tuple(s for s in summary if s != reference)
    if mode == "false":
        return Decision(mode, False, "scanner_adjustment is false", reference, levels, summary)
    if confounded_with_group(sessions, groups, levels):
        reason = (
            "not identifiable: acquisition is confounded with group (no subject links the "
            "acquisitions within a group), so a scanner step cannot be told from a group difference"
        )
        return Decision(mode, False, reason, reference, levels, summary)
    thin = [s for s in levels if summary[s]["n_subjects_spanning"] < min_spanning]
    if mode == "auto" and thin:
        spans = ", ".join(f"{s}: {summary[s]['n_subjects_spanning']}" for s in thin)
        reason = (
            f"not identifiable: fewer than {min_spanning} subjects scanned on both this and another "
            f"acquisition ({spans})"
        )
        return Decision(mode, False, reason, reference, levels, summary)
    reason = f"{len(summary)} acquisitions; steps relative to {reference}, identified by " + ", ".join(
        f"{summary[s]['n_subjects_spanning']} subjects spanning {s}" for s in levels
    )
    return Decision(mode, True, reason, reference, levels, summary)


def step_columns(data: pd.DataFrame, levels) -> tuple[list[str], list[np.ndarray]]:
    """Design columns ``scanner[<level>]``: 1 for a session on that acquisition."""
    return [f"scanner[{level}]" for level in levels], [
        (data["scanner"] == level).to_numpy(float) for level in levels
    ]


def step_rows(fit, region: str, decision: Decision, level: float) -> list[dict]:
    """One scanner_effects.tsv row per non-reference acquisition of a fitted region."""
    rows = []
    for scanner in decision.levels:
        weights = np.zeros(len(fit.names))
        weights[fit.names.index(f"scanner[{scanner}]")] = 1.0
        est = fit.contrast(weights, level)
        rows.append(
            {
                "region": region,
                "scanner": scanner,
                "reference_scanner": decision.reference,
                "step_pct": pct(est["estimate"]),
                "ci_low": pct(est["ci_low"]),
                "ci_high": pct(est["ci_high"]),
                "p_value": est["p_value"],
                "n_subjects_spanning": decision.acquisitions[scanner]["n_subjects_spanning"],
                "step": est["estimate"],
                "step_se": est["se"],
                "df": est["df"],
                "model": fit.structure,
            }
        )
    return rows


SCANNER_EFFECT_COLUMNS = [
    "region", "scanner", "reference_scanner", "step_pct", "ci_low", "ci_high", "p_value",
    "n_subjects_spanning", "step", "step_se", "df", "model",
]  # fmt: skip
