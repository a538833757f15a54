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
import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from . import cohort, mixed, power, scanner, subject_effects, twostage
from .acquisitions import DEFAULT_KEYS
from .errors import InputError
from .tables import read_frame
from .times import WEEKS_PER_YEAR

log = logging.getLogger(__name__)

RATES_BY_GROUP_COLUMNS = [
    "region", "group", "rate_pct_per_year", "ci_low", "ci_high", "n_subjects", "n_sessions", "converged",
    "slope", "slope_se", "df", "model",
]  # fmt: skip
DIFFERENCE_COLUMNS = [
    "region", "group", "reference_group", "difference_pct_per_year", "ci_low", "ci_high", "p_value", "p_fdr",
    "slope_difference", "slope_difference_se", "df", "effect_size", "converged", "model",
]  # fmt: skip
PAIRWISE_COLUMNS = [
    "region", "group", "versus", "difference_pct_per_year", "ci_low", "ci_high", "p_value", "p_adjusted",
    "correction", "effect_size", "slope_difference", "slope_difference_se", "df", "converged", "model",
]  # fmt: skip


POWER_COLUMNS = [
    "region", "group", "reference_group", "reduction", "excess_pct_per_year",
    "detectable_difference_pct_per_year", "slope_sd", "residual_sd", "schedule_weeks", "alpha", "power",
    "n_per_arm", "model",
]  # fmt: skip


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
    power_alpha: float = 0.05
    power_target: float = 0.8
    power_reductions: tuple[float, ...] = (0.25, 0.5)
    power_schedule_weeks: tuple[float, ...] = (0, 24, 48, 96)
    scanner_adjustment: str = "auto"
    min_spanning_subjects: int = scanner.MIN_SPANNING_SUBJECTS
    reference_percentile: float = 95.0
    cutoffs: dict = field(default_factory=dict)  # region → %/yr: published pathological rates

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


def pct(slope: float) -> float:
    """A slope of 100·ln(volume) per year as %/yr: 100·(exp(b/100) − 1)."""
    return 100.0 * math.expm1(slope / 100.0)


def _pair(fit, names, group, versus, level):
    """Rate difference group − versus with a delta-method CI; the test is on the slopes."""
    i, j = names.index(f"group[{group}]:years"), names.index(f"group[{versus}]:years")
    c = np.zeros(len(names))
    c[i], c[j] = 1.0, -1.0
    est = fit.contrast(c, level)
    gradient = np.zeros(len(names))
    gradient[i], gradient[j] = math.exp(fit.beta[i] / 100.0), -math.exp(fit.beta[j] / 100.0)
    se = math.sqrt(float(gradient @ fit.cov_beta @ gradient))
    quantile = float(stats.t.ppf(0.5 + level / 2, est["df"]))
    difference = pct(fit.beta[i]) - pct(fit.beta[j])
    return {
        "difference_pct_per_year": difference,
        "ci_low": difference - quantile * se,
        "ci_high": difference + quantile * se,
        "p_value": est["p_value"],
        # difference in slopes over the SD of the subjects' random slopes
        "effect_size": est["estimate"] / fit.slope_sd if fit.slope_sd > 0 else math.nan,
        "slope_difference": est["estimate"],
        "slope_difference_se": est["se"],
        "df": est["df"],
        "converged": fit.converged,
        "model": fit.structure,
    }


def fit_region(
    data: pd.DataFrame, groups: list[str], covariates: pd.DataFrame, settings: Settings, scanner_steps=()
):
    """The mixed model of one region: (fit, rate rows, pairwise rows for every pair of groups)."""
    X, names = design(data, groups, covariates, settings.slope_covariates, scanner_steps)
    y = 100.0 * np.log(data["volume_mm3"].to_numpy(float))
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
        {"region": region, "group": b, "versus": a, **_pair(fit, names, b, a, settings.level)}
        for a, b in combinations(groups, 2)
    ]
    return fit, rates, pairs


def unfittable(data: pd.DataFrame, groups: list[str]) -> str | None:
    """Why a region's data cannot carry the model, or None: every group needs subjects with
    follow-up (a slope), and a region absent from every image has nothing to model."""
    if data.empty:
        return "the region's labels are absent from every image (volume 0)"
    for g in groups:
        members = data[data["group"] == g]
        spans = members.groupby("participant_id")["years"].agg(np.ptp)
        if not (spans > 0).any():
            return f"group {g} has no subject with two or more sessions in this region"
    return None


def adjust_fdr(differences: pd.DataFrame) -> pd.Series:
    """Benjamini–Hochberg across regions, separately for each contrast (group vs reference)."""
    adjusted = pd.Series(np.nan, index=differences.index)
    for _, rows in differences.groupby("group"):
        valid = rows["p_value"].notna()
        if valid.any():
            adjusted[rows.index[valid]] = multipletests(rows.loc[valid, "p_value"], method="fdr_bh")[1]
    return adjusted


def adjust_all(p_values: pd.Series, method: str) -> pd.Series:
    """One correction across every region and contrast (Benjamini–Hochberg or Holm)."""
    adjusted = pd.Series(np.nan, index=p_values.index)
    valid = p_values.notna()
    if valid.any():
        adjusted[valid] = multipletests(p_values[valid], method=method)[1]
    return adjusted


def power_rows(region, fit, groups, rates, settings: Settings) -> list[dict]:
    """Subjects per arm to detect each stated reduction of every group's excess rate over the
    reference group, from this region's variance components."""
    schedule = np.asarray(settings.power_schedule_weeks, float) / WEEKS_PER_YEAR
    slope = {r["group"]: r["slope"] for r in rates}
    rows = []
    for g in groups[1:]:
        excess = slope[g] - slope[groups[0]]
        for reduction in settings.power_reductions:
            difference = reduction * excess
            rows.append(
                {
                    "region": region,
                    "group": g,
                    "reference_group": groups[0],
                    "reduction": reduction,
                    "excess_pct_per_year": pct(slope[g]) - pct(slope[groups[0]]),
                    "detectable_difference_pct_per_year": pct(slope[g]) - pct(slope[g] - difference),
                    "slope_sd": fit.slope_sd,
                    "residual_sd": fit.sigma,
                    "schedule_weeks": " ".join(f"{w:g}" for w in settings.power_schedule_weeks),
                    "alpha": settings.power_alpha,
                    "power": settings.power_target,
                    "n_per_arm": power.subjects_per_arm(
                        difference,
                        fit.slope_sd,
                        fit.sigma,
                        schedule,
                        settings.power_alpha,
                        settings.power_target,
                    ),
                    "model": fit.structure,
                }
            )
    return rows


def sensitivity_rows(pairs, subject_rates, participants, covariates: pd.DataFrame, settings: Settings):
    """Mixed-model and two-stage estimates of every contrast, side by side."""
    rows = []
    for pair in pairs:
        region, group, versus = pair["region"], pair["group"], pair["versus"]
        rates = subject_rates[subject_rates["region"] == region].dropna(subset=["rate_pct_per_year"])
        rates = rates.set_index("participant_id")
        group_of = participants["group"].reindex(rates.index)
        rate = rates["rate_pct_per_year"]
        welch = twostage.welch(rate[group_of == versus], rate[group_of == group], settings.level)
        ancova = twostage.ancova(
            rates["rate_pct_per_year"],
            group_of,
            covariates.reindex(rates.index),
            versus,
            group,
            settings.level,
        )
        rows.append(
            {
                "region": region,
                "group": group,
                "versus": versus,
                "mixed_difference_pct_per_year": pair.get("difference_pct_per_year", np.nan),
                "mixed_ci_low": pair.get("ci_low", np.nan),
                "mixed_ci_high": pair.get("ci_high", np.nan),
                "mixed_p_value": pair.get("p_value", np.nan),
                "welch_difference_pct_per_year": welch["difference"],
                "welch_ci_low": welch["ci_low"],
                "welch_ci_high": welch["ci_high"],
                "welch_p_value": welch["p_value"],
                "ancova_difference_pct_per_year": ancova["difference"],
                "ancova_ci_low": ancova["ci_low"],
                "ancova_ci_high": ancova["ci_high"],
                "ancova_p_value": ancova["p_value"],
                "ancova_covariates": " ".join(covariates.columns),
                "n_two_stage_subjects": int(group_of.isin([group, versus]).sum()),
            }
        )
    return rows


def model_rates(
    volumes: pd.DataFrame,
    participants: pd.DataFrame,
    regions: list[str],
    settings: Settings,
    participants_path="participants.tsv",
) -> dict:
    """Every group-level table from the session volumes (already windowed) and participants."""
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
    subject_rates = twostage.subject_rates(volumes)
    subject_rates.insert(1, "group", subject_rates["participant_id"].map(participants["group"]))
    decision = scanner_decision(volumes, groups, settings)
    steps = decision.levels if decision.adjusted else ()
    rates, pairs, powers, fits, unfitted, effects, unadjusted = [], [], [], {}, {}, [], []
    per_subject = []
    for region in regions:
        data = volumes[(volumes["region"] == region) & (volumes["volume_mm3"] > 0)]
        data = data.sort_values(["participant_id", "years"], kind="stable").reset_index(drop=True)
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
            rates += [
                {"region": region, "group": g, "converged": False, "model": "not fitted"} for g in groups
            ]
            pairs += [
                {"region": region, "group": b, "versus": a, "converged": False, "model": "not fitted"}
                for a, b in combinations(groups, 2)
            ]
            continue
        fits[region] = fit
        rates += region_rates
        pairs += region_pairs
        powers += power_rows(region, fit, groups, region_rates, settings)
    rates = pd.DataFrame(rates, columns=RATES_BY_GROUP_COLUMNS)
    pairwise = pd.DataFrame(
        pairs, columns=[c for c in PAIRWISE_COLUMNS if c not in ("p_adjusted", "correction")]
    )
    pairwise["p_adjusted"] = adjust_all(pairwise["p_value"], settings.correction)
    pairwise["correction"] = settings.correction
    pairwise = pairwise[PAIRWISE_COLUMNS]
    differences = pairwise[pairwise["versus"] == groups[0]].rename(columns={"versus": "reference_group"})
    differences = differences.reset_index(drop=True)
    differences["p_fdr"] = adjust_fdr(differences)
    differences = differences[DIFFERENCE_COLUMNS]
    sensitivity = pd.DataFrame(
        sensitivity_rows(pairs, subject_rates, participants, covariate_values, settings)
    )
    if steps:
        sensitivity = with_unadjusted(sensitivity, rates, unadjusted)
    description = {
        "model": "REML 100*ln(volume) ~ group + group:years + covariates [+ slope_covariates:years]"
        + (" + scanner" if steps else "")
        + " + (years | subject)",
        "scanner_adjustment": decision.as_dict(),
        "fallback_order": list(mixed.STRUCTURES),
        "window": {
            "start_weeks": settings.window_start_weeks,
            "end_weeks": settings.window_end_weeks,
            "rebaseline": settings.rebaseline,
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
        "sensitivity": sensitivity,
        "power": pd.DataFrame(powers, columns=POWER_COLUMNS),
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


def with_unadjusted(sensitivity: pd.DataFrame, rates: pd.DataFrame, unadjusted: list) -> pd.DataFrame:
    """The sensitivity table with each contrast's and each group's rate also from the model
    without scanner steps, side by side."""
    plain_rates = pd.DataFrame([r for _, region_rates, _ in unadjusted for r in region_rates])
    plain_pairs = pd.DataFrame([p for _, _, region_pairs in unadjusted for p in region_pairs])
    rate = rates.set_index(["region", "group"])["rate_pct_per_year"]
    plain_rate = plain_rates.set_index(["region", "group"])["rate_pct_per_year"]
    plain = plain_pairs.set_index(["region", "group", "versus"])
    key = pd.MultiIndex.from_frame(sensitivity[["region", "group", "versus"]])
    group_key = pd.MultiIndex.from_frame(sensitivity[["region", "group"]])
    versus_key = pd.MultiIndex.from_frame(sensitivity[["region", "versus"]])
    return sensitivity.assign(
        group_rate_pct_per_year=rate.reindex(group_key).to_numpy(),
        unadjusted_group_rate_pct_per_year=plain_rate.reindex(group_key).to_numpy(),
        versus_rate_pct_per_year=rate.reindex(versus_key).to_numpy(),
        unadjusted_versus_rate_pct_per_year=plain_rate.reindex(versus_key).to_numpy(),
        unadjusted_difference_pct_per_year=plain["difference_pct_per_year"].reindex(key).to_numpy(),
        unadjusted_ci_low=plain["ci_low"].reindex(key).to_numpy(),
        unadjusted_ci_high=plain["ci_high"].reindex(key).to_numpy(),
        unadjusted_p_value=plain["p_value"].reindex(key).to_numpy(),
    )


def analyse(
    volume_tables,
    participants_path,
    regions: list[str],
    settings: Settings,
    segmentation_dir="segmentation_dir",
    error_tables=(),
    exclusions=(),
    session_sources=None,
    time_setting=None,
    keep_going: bool = False,
    bids_dir=None,
    acquisition_keys=None,
    acquisition_sources=None,
):
    """All group-level tables from the per-subject volume tables (and the error records of
    subjects left out under --keep-going): each session's time (``session_sources``, see
    :func:`cohort.subject_sessions`) and acquisition (from ``bids_dir``) joined to its volumes,
    then the model."""
    if not volume_tables:
        raise InputError(
            segmentation_dir, "no usable label images (sub-<label>/ses-<label>/anat/*_dseg.nii[.gz])"
        )
    measured = pd.concat([read_frame(p) for p in volume_tables], ignore_index=True)
    left_out = [
        {
            "participant_id": r.participant_id,
            "session_id": "",
            "kind": "input error",
            "reason": f"{r.file}: {r.fault}",
        }
        for table in error_tables
        for r in read_frame(table).itertuples()
    ]
    volumes, timeless = cohort.assemble_sessions(measured, session_sources or {}, time_setting, keep_going)
    left_out += timeless
    if volumes.empty:
        raise InputError(segmentation_dir, "no subject has both label images and session times")
    acquisitions = cohort.acquisitions_table(
        bids_dir or "", volumes, acquisition_keys or DEFAULT_KEYS, acquisition_sources
    )
    volumes = volumes.merge(acquisitions[["participant_id", "session_id", "scanner"]], how="left")
    participants = cohort.read_participants(
        participants_path, [c for c in settings.all_covariates if c != cohort.ICV_COVARIATE]
    )
    icv_source = None
    if cohort.ICV_COVARIATE in settings.all_covariates:
        icv_source = "participants.tsv icv"
        if cohort.ICV_COVARIATE not in participants.columns:
            icv, icv_source = cohort.baseline_icv(volumes)
            participants[cohort.ICV_COVARIATE] = icv.reindex(participants.index)
    analysed, excluded_by_config = cohort.apply_exclusions(volumes, exclusions)
    left_out += excluded_by_config
    windowed = cohort.apply_window(
        analysed, settings.window_start_weeks, settings.window_end_weeks, settings.rebaseline
    )
    if windowed.empty:
        raise InputError("config", "the analysis window and exclusions leave no sessions")
    tables = model_rates(windowed, participants, regions, settings, participants_path)
    left_out += [
        {"participant_id": subject, "session_id": "", "kind": "missing covariate", "reason": reason}
        for subject, reason in tables["description"]["excluded_subjects"].items()
    ]
    tables["volumes"] = volumes.assign(
        in_window=volumes.index.isin(windowed.index), excluded=~volumes.index.isin(analysed.index)
    )[VOLUME_TABLE_COLUMNS]
    tables["acquisitions"] = acquisitions
    tables["excluded"] = pd.DataFrame(left_out, columns=cohort.EXCLUDED_COLUMNS)
    description = tables["description"]
    description["left_out"] = left_out
    description["icv_source"] = icv_source
    # where each session's time came from (sessions.tsv acq_time, scans.tsv acq_time, an age)
    description["time_sources"] = sorted(volumes["time_source"].dropna().unique())
    description["n_sessions_in_window"] = int(
        windowed[["participant_id", "session_id"]].drop_duplicates().shape[0]
    )
    return tables


VOLUME_TABLE_COLUMNS = [
    "participant_id", "session_id", "acq_time", "years", "region", "volume_mm3", "n_voxels", "labelled_mm3",
    "voxel_mm3", "session_icv_mm3", "time_source", "scanner", "in_window", "excluded",
]  # fmt: skip
