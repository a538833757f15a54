"""Group statistics: gather the subjects' tables, fit the mixed model per region, compare groups.

Per region the model is REML ``100·ln(volume) ~ group + group:years + covariates
[+ covariates:years] + (years | subject)`` (falling back to ``(years || subject)`` and then
``(1 | subject)`` when a fit is singular or does not converge). From it: every group's rate,
every pair of groups' difference (with a multiplicity correction across regions and
contrasts), a standardized effect size, the two-stage sensitivity analysis, and the subjects
per arm a trial would need.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from . import cohort, contrasts, mixed, power, scanner, sensitivity, subject_effects, twostage
from .columns import (
    CHANGE_MEASURES,
    DIFFERENCE_COLUMNS,
    LABELS,
    OUTCOME_COLUMNS,
    OUTCOME_TERMS,
    PAIRWISE_COLUMNS,
    RATES_BY_GROUP_COLUMNS,
)
from .rates import pct

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """What the group analysis does; every field is a config key (see the schema)."""

    reference_group: str
    covariates: tuple[str, ...] = ()
    slope_covariates: tuple[str, ...] = ()
    covariate_reference: dict = field(default_factory=dict)
    level: float = 0.95
    correction: str = "fdr_bh"
    window_start_weeks: float = 0.0
    window_end_weeks: float | None = None
    rebaseline: bool = False
    window_groups: tuple[str, ...] | None = None  # None: every group
    outcome: str = "volume"  # or "icv_fraction"
    change_measure: str = LABELS  # or JACOBIAN: which rows of the volume tables are modelled
    power_alpha: float = 0.05
    power_target: float = 0.8
    power_reductions: tuple[float, ...] = (0.25, 0.5)
    power_schedule_weeks: tuple[float, ...] = (0, 24, 48, 96)
    scanner_adjustment: str = "auto"
    min_spanning_subjects: int = scanner.MIN_SPANNING_SUBJECTS
    reference_percentile: float = 95.0
    cutoffs: dict = field(default_factory=dict)  # region → %/yr: published pathological rates

    @property
    def outcome_column(self) -> str:
        """The volume table's column the rates are of."""
        return OUTCOME_COLUMNS[self.outcome]

    @property
    def all_covariates(self) -> list[str]:
        return list(dict.fromkeys([*self.covariates, *self.slope_covariates]))


def design(
    data: pd.DataFrame, groups: list[str], covariates: pd.DataFrame, slope_covariates=(), scanner_steps=()
):
    """X for ``100·ln(volume) ~ group + group:years + covariates + slope_covariates:years
    [+ scanner]`` (``scanner_steps``: the non-reference acquisitions, a step each)."""
    names, columns = [], []
    years = data["years"].to_numpy(float)
    for g in groups:
        names.append(f"group[{g}]")
        columns.append((data["group"] == g).to_numpy(float))
    for g in groups:
        names.append(f"group[{g}]:years")
        columns.append((data["group"] == g).to_numpy(float) * years)
    for name in covariates.columns:
        values = data["participant_id"].map(covariates[name]).to_numpy(float)
        names.append(name)
        columns.append(values)
        if name.split("[")[0] in slope_covariates:
            names.append(f"{name}:years")
            columns.append(values * years)
    step_names, step_values = scanner.step_columns(data, scanner_steps)
    names += step_names
    columns += step_values
    return np.column_stack(columns), names


def slope_contrasts(data: pd.DataFrame, subjects, groups, covariates, settings: Settings, steps=()):
    """One row per subject (in ``subjects`` order): the weights that pick the subject's fixed
    slope out of β — its group's slope plus slope covariates at its values — as the difference
    of its design row one year apart."""
    first = data.drop_duplicates("participant_id").set_index("participant_id").loc[list(subjects)]
    first = first.reset_index()
    at_one, _ = design(first.assign(years=1.0), groups, covariates, settings.slope_covariates, steps)
    at_zero, _ = design(first.assign(years=0.0), groups, covariates, settings.slope_covariates, steps)
    return at_one - at_zero


def fit_region(
    data: pd.DataFrame, groups: list[str], covariates: pd.DataFrame, settings: Settings, scanner_steps=()
):
    """The mixed model of one region: (fit, rate rows, pairwise rows for every pair of groups)."""
    X, names = design(data, groups, covariates, settings.slope_covariates, scanner_steps)
    y = 100.0 * np.log(data[settings.outcome_column].to_numpy(float))
    fit = mixed.fit_with_fallback(
        y, X, data["years"].to_numpy(float), data["participant_id"].to_numpy(), names
    )
    region = data["region"].iloc[0]
    if not fit.converged:
        log.warning("region %s: no random-effects structure converged (%s)", region, fit.message)
    elif fit.structure != "unstructured":
        log.info("region %s: fell back to the %s random-effects structure", region, fit.structure)
    rates = []
    for g in groups:
        members = data[data["group"] == g]
        c = np.zeros(len(names))
        c[names.index(f"group[{g}]:years")] = 1.0
        est = fit.contrast(c, settings.level)
        rates.append(
            {
                "region": region,
                "group": g,
                "rate_pct_per_year": pct(est["estimate"]),
                "ci_low": pct(est["ci_low"]),
                "ci_high": pct(est["ci_high"]),
                "n_subjects": members["participant_id"].nunique(),
                "n_sessions": len(members),
                "converged": fit.converged,
                "slope": est["estimate"],
                "slope_se": est["se"],
                "df": est["df"],
                "model": fit.structure,
            }
        )
    pairs = [
        {
            "region": region,
            "group": b,
            "versus": a,
            **contrasts.pair_difference(fit, names, b, a, settings.level),
        }
        for a, b in combinations(groups, 2)
    ]
    return fit, rates, pairs


def modelled_cohort(volumes: pd.DataFrame, participants: pd.DataFrame, settings: Settings, participants_path):
    """What every model of the cohort starts from: (the volumes with each subject's group,
    without subjects lacking a covariate value; the groups, reference first; the covariate
    columns; their reference values; {subject left out: why})."""
    volumes = cohort.attach_groups(volumes, participants, participants_path)
    groups = cohort.group_order(volumes["group"], settings.reference_group)
    covariate_values, reference_values = cohort.covariate_columns(
        participants, settings.all_covariates, settings.covariate_reference
    )
    excluded = {}
    if settings.all_covariates:
        incomplete = covariate_values.reindex(volumes["participant_id"].unique()).isna().any(axis=1)
        for subject in sorted(incomplete[incomplete].index):
            excluded[subject] = "missing covariate value"
        if excluded:
            log.warning("left out for missing covariates: %s", ", ".join(excluded))
        volumes = volumes[~volumes["participant_id"].isin(list(excluded))]
    return volumes, groups, covariate_values, reference_values, excluded


def region_data(volumes: pd.DataFrame, region: str, settings: Settings) -> pd.DataFrame:
    """One region's rows the model sees (a measured outcome), by subject and time."""
    data = volumes[(volumes["region"] == region) & (volumes[settings.outcome_column] > 0)]
    return data.sort_values(["participant_id", "years"], kind="stable").reset_index(drop=True)


def not_fitted_rates(region: str, groups: list[str]) -> list[dict]:
    """rates_by_group rows of a region the model could not be fitted to."""
    return [{"region": region, "group": g, "converged": False, "model": "not fitted"} for g in groups]


def group_rates(
    volumes: pd.DataFrame,
    participants: pd.DataFrame,
    regions: list[str],
    settings: Settings,
    participants_path="participants.tsv",
) -> pd.DataFrame:
    """rates_by_group alone, by :func:`model_rates` (the same cohort, scanner decision and fit
    per region): to set another change measure's rates beside the modelled one's."""
    return model_rates(volumes, participants, regions, settings, participants_path)["rates_by_group"]


RATES_BY_MEASURE_COLUMNS = [
    "group", "region", "method", "rate_pct_per_year", "ci_low", "ci_high", "ci_width", "n_subjects",
]  # fmt: skip


def rates_by_measure(rates: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The group rates of each change measure side by side ({method: its rates_by_group}, the
    modelled measure first): per region and group (in the first table's order) one row per
    measure, with its CI's width (a measure's precision)."""
    frames = [table.assign(method=method) for method, table in rates.items()]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RATES_BY_GROUP_COLUMNS)
    table["ci_width"] = table["ci_high"] - table["ci_low"]
    first = next(iter(rates.values()), table)
    pairs = {pair: k for k, pair in enumerate(zip(first["region"], first["group"], strict=True))}
    methods = {method: k for k, method in enumerate(rates)}
    rank = pd.DataFrame(
        {
            "pair": [pairs.get(p, len(pairs)) for p in zip(table["region"], table["group"], strict=True)],
            "method": table["method"].map(methods),
        },
        index=table.index,
    )
    order = rank.sort_values(["pair", "method"], kind="stable").index
    return table.loc[order, RATES_BY_MEASURE_COLUMNS].reset_index(drop=True)


def unfittable(data: pd.DataFrame, groups: list[str]) -> str | None:
    """Why a region's data cannot carry the model, or None: every group needs subjects with
    follow-up (a slope), and a region absent from every image has nothing to model."""
    if data.empty:
        return "the region's labels are absent from every image (volume 0)"
    for g in groups:
        members = data[data["group"] == g]
        years = members.groupby("participant_id")["years"]
        spans = years.max() - years.min()
        if not (spans > 0).any():
            return f"group {g} has no subject with two or more sessions in this region"
    return None


def model_rates(
    volumes: pd.DataFrame,
    participants: pd.DataFrame,
    regions: list[str],
    settings: Settings,
    participants_path="participants.tsv",
) -> dict:
    """Every group-level table from the session volumes (already windowed, of one change
    measure) and participants."""
    volumes, groups, covariate_values, reference_values, excluded = modelled_cohort(
        volumes, participants, settings, participants_path
    )
    subject_rates = twostage.subject_rates(volumes, settings.outcome_column)
    subject_rates.insert(1, "group", subject_rates["participant_id"].map(participants["group"]))
    decision = scanner_decision(volumes, groups, settings)
    steps = decision.levels if decision.adjusted else ()
    rates, pairs, powers, fits, unfitted, effects, unadjusted = [], [], [], {}, {}, [], []
    per_subject = []
    for region in regions:
        data = region_data(volumes, region, settings)
        problem = unfittable(data, groups)
        if problem is None:
            try:
                fit, region_rates, region_pairs = fit_region(data, groups, covariate_values, settings, steps)
                if steps:
                    effects += scanner.step_rows(fit, region, decision, settings.level)
                    unadjusted.append(fit_region(data, groups, covariate_values, settings))
                per_subject += subject_rows(
                    fit, data, region_rates, subject_rates, groups, covariate_values, settings, steps
                )
            except (np.linalg.LinAlgError, ValueError) as err:
                problem = f"the model cannot be estimated ({err})"
        if problem is not None:
            log.warning("region %s: not modelled: %s", region, problem)
            unfitted[region] = problem
            rates += not_fitted_rates(region, groups)
            pairs += [
                {"region": region, "group": b, "versus": a, "converged": False, "model": "not fitted"}
                for a, b in combinations(groups, 2)
            ]
            continue
        fits[region] = fit
        rates += region_rates
        pairs += region_pairs
        powers += power.power_rows(region, fit, groups, region_rates, settings)
    rates = pd.DataFrame(rates, columns=RATES_BY_GROUP_COLUMNS)
    pairwise = pd.DataFrame(
        pairs, columns=[c for c in PAIRWISE_COLUMNS if c not in ("p_adjusted", "correction")]
    )
    pairwise["p_adjusted"] = contrasts.adjust_all(pairwise["p_value"], settings.correction)
    pairwise["correction"] = settings.correction
    pairwise = pairwise[PAIRWISE_COLUMNS]
    differences = pairwise[pairwise["versus"] == groups[0]].rename(columns={"versus": "reference_group"})
    differences = differences.reset_index(drop=True)
    differences["p_fdr"] = contrasts.adjust_fdr(differences)
    differences = differences[DIFFERENCE_COLUMNS]
    sensitivity_table = pd.DataFrame(
        sensitivity.sensitivity_rows(pairs, subject_rates, participants, covariate_values, settings)
    )
    if steps:
        sensitivity_table = sensitivity.with_unadjusted(sensitivity_table, rates, unadjusted)
    description = {
        "model": f"REML 100*ln({OUTCOME_TERMS[settings.outcome]}) ~ group + group:years + covariates"
        + " [+ slope_covariates:years]"
        + (" + scanner" if steps else "")
        + " + (years | subject)",
        "scanner_adjustment": decision.as_dict(),
        "fallback_order": list(mixed.STRUCTURES),
        "outcome": settings.outcome,
        "change_measure": settings.change_measure,
        "change_measure_description": CHANGE_MEASURES[settings.change_measure],
        "window": {
            "start_weeks": settings.window_start_weeks,
            "end_weeks": settings.window_end_weeks,
            "rebaseline": settings.rebaseline,
            "groups": list(settings.window_groups) if settings.window_groups is not None else groups,
        },
        "covariates": list(settings.covariates),
        "slope_covariates": list(settings.slope_covariates),
        "covariate_reference_values": reference_values,
        "confidence_level": settings.level,
        "correction": settings.correction,
        "groups": groups,
        "reference_group": groups[0],
        "excluded_subjects": excluded,
        "regions_not_modelled": unfitted,
        "regions": {
            region: {
                "model": fit.structure,
                "converged": fit.converged,
                "singular": fit.singular,
                "slope_sd": fit.slope_sd,
                "residual_sd": fit.sigma,
                "n_subjects": fit.n_subjects,
                "n_sessions": fit.n_obs,
            }
            for region, fit in fits.items()
        },
    }
    return {
        "subject_rates": subject_rates,
        "rates_by_group": rates,
        "group_differences": differences,
        "pairwise_differences": pairwise,
        "sensitivity": sensitivity_table,
        "power": pd.DataFrame(powers, columns=power.POWER_COLUMNS),
        "scanner_effects": pd.DataFrame(effects, columns=scanner.SCANNER_EFFECT_COLUMNS),
        "subject_effects": pd.DataFrame(per_subject, columns=subject_effects.SUBJECT_EFFECT_COLUMNS),
        "description": description,
    }


def subject_rows(fit, data, region_rates, subject_rates, groups, covariates, settings: Settings, steps):
    """subject_effects.tsv rows of one fitted region."""
    region = data["region"].iloc[0]
    summary = subject_effects.subject_summary(data, subject_rates[subject_rates["region"] == region])
    contrasts = slope_contrasts(data, fit.subjects, groups, covariates, settings, steps)
    reference_slope = next(r["slope"] for r in region_rates if r["group"] == groups[0])
    return subject_effects.subject_rows(
        fit,
        contrasts,
        summary,
        region,
        reference_slope,
        settings.level,
        settings.reference_percentile,
        settings.cutoffs.get(region),
    )


def scanner_decision(volumes: pd.DataFrame, groups: list[str], settings: Settings) -> scanner.Decision:
    """Whether this cohort's model gets acquisition steps (one decision for every region)."""
    if "scanner" not in volumes:
        volumes = volumes.assign(scanner=scanner.UNKNOWN)
    sessions = volumes.drop_duplicates(["participant_id", "session_id"])
    decision = scanner.decide(sessions, groups, settings.scanner_adjustment, settings.min_spanning_subjects)
    if decision.identifiable_problem:
        log.warning("scanner steps NOT modelled: %s; rates may carry scanner changes", decision.reason)
    else:
        log.info("scanner adjustment: %s (%s)", "yes" if decision.adjusted else "no", decision.reason)
    return decision
