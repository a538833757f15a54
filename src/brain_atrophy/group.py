"""Group statistics: gather the subjects' tables, fit the mixed model per region, compare groups."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from . import mixed
from .errors import InputError

log = logging.getLogger(__name__)

RATES_BY_GROUP_COLUMNS = [
    "region",
    "group",
    "rate_pct_per_year",
    "ci_low",
    "ci_high",
    "n_subjects",
    "n_sessions",
    "converged",
    "slope",
    "slope_se",
    "df",
]
DIFFERENCE_COLUMNS = [
    "region",
    "group",
    "reference_group",
    "difference_pct_per_year",
    "ci_low",
    "ci_high",
    "p_value",
    "p_fdr",
    "slope_difference",
    "slope_difference_se",
    "df",
    "converged",
]


def read_tsv(path) -> pd.DataFrame:
    return pd.read_csv(
        path, sep="\t", na_values=["n/a"], keep_default_na=False, dtype={"participant_id": str}
    )


def read_participants(path, covariates: list[str]) -> pd.DataFrame:
    """participants.tsv indexed by 'sub-<label>', with 'group' and the requested covariates."""
    try:
        table = read_tsv(path)
    except (OSError, pd.errors.ParserError) as err:
        raise InputError(path, f"cannot read participants table ({err})") from None
    missing = [c for c in ["participant_id", "group", *covariates] if c not in table.columns]
    if missing:
        raise InputError(path, f"participants table lacks the column(s) {missing}")
    ids = table["participant_id"].astype(str).str.strip()
    table["participant_id"] = ids.where(ids.str.startswith("sub-"), "sub-" + ids)
    duplicated = table["participant_id"][table["participant_id"].duplicated()].unique()
    if len(duplicated):
        raise InputError(path, f"participant(s) listed twice: {', '.join(duplicated)}")
    table["group"] = table["group"].astype("string").str.strip()
    return table.set_index("participant_id")


def attach_groups(volumes: pd.DataFrame, participants: pd.DataFrame, participants_path) -> pd.DataFrame:
    """Add each subject's group; a measured subject without a group is an InputError."""
    subjects = volumes["participant_id"].unique()
    groups = participants["group"].reindex(subjects)
    lacking = sorted(groups[groups.isna() | (groups == "")].index)
    if lacking:
        raise InputError(
            participants_path,
            f"no group for participant(s) {', '.join(lacking)}, which have label images",
        )
    return volumes.assign(group=volumes["participant_id"].map(groups).astype(str))


def group_order(groups, reference_group: str, config_name="config") -> list[str]:
    present = list(dict.fromkeys(groups))
    if reference_group not in present:
        raise InputError(
            config_name,
            f"reference_group '{reference_group}' is not a group of the measured subjects "
            f"(groups: {', '.join(sorted(present))})",
        )
    return [reference_group] + sorted(g for g in present if g != reference_group)


def covariate_columns(participants: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Numeric covariates centred; text ones as treatment-coded dummies (first level dropped)."""
    columns = {}
    for name in covariates:
        values = participants[name]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum():
            columns[name] = numeric - numeric.mean()
        else:
            levels = sorted(values.dropna().astype(str).unique())
            for level in levels[1:]:
                dummy = (values.astype(str) == level).astype(float)
                columns[f"{name}[{level}]"] = dummy.where(values.notna())
    return pd.DataFrame(columns, index=participants.index)


def design(data: pd.DataFrame, groups: list[str], covariates: pd.DataFrame):
    """X for ``100·ln(volume) ~ group + group:years + covariates`` (one intercept per group)."""
    names, columns = [], []
    for g in groups:
        names.append(f"group[{g}]")
        columns.append((data["group"] == g).to_numpy(float))
    for g in groups:
        names.append(f"group[{g}]:years")
        columns.append(((data["group"] == g) * data["years"]).to_numpy(float))
    for name in covariates.columns:
        names.append(name)
        columns.append(data["participant_id"].map(covariates[name]).to_numpy(float))
    return np.column_stack(columns), names


def pct(slope: float) -> float:
    """A slope of 100·ln(volume) per year as %/yr: 100·(exp(b/100) − 1)."""
    return 100.0 * math.expm1(slope / 100.0)


def fit_region(data: pd.DataFrame, groups: list[str], covariates: pd.DataFrame, level: float):
    """Rates by group and differences against groups[0] for one region's rows."""
    X, names = design(data, groups, covariates)
    y = 100.0 * np.log(data["volume_mm3"].to_numpy(float))
    fit = mixed.fit(y, X, data["years"].to_numpy(float), data["participant_id"].to_numpy(), names)
    region = data["region"].iloc[0]
    rates, differences = [], []
    for g in groups:
        members = data[data["group"] == g]
        c = np.zeros(len(names))
        c[names.index(f"group[{g}]:years")] = 1.0
        est = fit.contrast(c, level)
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
            }
        )
    reference = groups[0]
    i_ref = names.index(f"group[{reference}]:years")
    for g in groups[1:]:
        i = names.index(f"group[{g}]:years")
        c = np.zeros(len(names))
        c[i], c[i_ref] = 1.0, -1.0
        est = fit.contrast(c, level)
        # rate difference and its delta-method SE; the test is on the slopes (same hypothesis)
        b, b_ref = fit.beta[i], fit.beta[i_ref]
        gradient = np.zeros(len(names))
        gradient[i], gradient[i_ref] = math.exp(b / 100.0), -math.exp(b_ref / 100.0)
        se = math.sqrt(float(gradient @ fit.cov_beta @ gradient))
        quantile = float(stats.t.ppf(0.5 + level / 2, est["df"]))
        difference = pct(b) - pct(b_ref)
        differences.append(
            {
                "region": region,
                "group": g,
                "reference_group": reference,
                "difference_pct_per_year": difference,
                "ci_low": difference - quantile * se,
                "ci_high": difference + quantile * se,
                "p_value": est["p_value"],
                "slope_difference": est["estimate"],
                "slope_difference_se": est["se"],
                "df": est["df"],
                "converged": fit.converged,
            }
        )
    if not fit.converged:
        log.warning("region %s: the mixed model did not converge (%s)", region, fit.message)
    return rates, differences


def adjust_fdr(differences: pd.DataFrame) -> pd.Series:
    """Benjamini–Hochberg across regions, separately for each contrast (group vs reference)."""
    adjusted = pd.Series(np.nan, index=differences.index)
    for _, rows in differences.groupby("group"):
        valid = rows["p_value"].notna()
        if valid.any():
            adjusted[rows.index[valid]] = multipletests(rows.loc[valid, "p_value"], method="fdr_bh")[1]
    return adjusted


def model_rates(
    volumes: pd.DataFrame,
    participants: pd.DataFrame,
    regions: list[str],
    reference_group: str,
    covariates: list[str],
    level: float,
    participants_path="participants.tsv",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mixed-model rates by group and differences against the reference, for every region."""
    volumes = attach_groups(volumes, participants, participants_path)
    groups = group_order(volumes["group"], reference_group)
    covariate_values = covariate_columns(participants, covariates)
    if covariates:
        incomplete = covariate_values.reindex(volumes["participant_id"].unique()).isna().any(axis=1)
        if incomplete.any():
            left_out = ", ".join(sorted(incomplete[incomplete].index))
            log.warning("left out for missing covariates: %s", left_out)
        volumes = volumes[~volumes["participant_id"].map(incomplete)]
    rates, differences = [], []
    for region in regions:
        data = volumes[(volumes["region"] == region) & (volumes["volume_mm3"] > 0)]
        data = data.sort_values(["participant_id", "years"], kind="stable").reset_index(drop=True)
        region_rates, region_differences = fit_region(data, groups, covariate_values, level)
        rates += region_rates
        differences += region_differences
    rates = pd.DataFrame(rates, columns=RATES_BY_GROUP_COLUMNS)
    differences = pd.DataFrame(differences, columns=[c for c in DIFFERENCE_COLUMNS if c != "p_fdr"])
    differences.insert(differences.columns.get_loc("p_value") + 1, "p_fdr", adjust_fdr(differences))
    return rates, differences


def analyse(
    volume_tables,
    rate_tables,
    participants_path,
    regions: list[str],
    reference_group: str,
    covariates: list[str],
    level: float,
    segmentation_dir="segmentation_dir",
):
    """All group-level tables from the per-subject tables: (volumes, subject rates, rates, differences)."""
    if not volume_tables:
        raise InputError(
            segmentation_dir, "no label images found (sub-<label>/ses-<label>/anat/*_dseg.nii[.gz])"
        )
    volumes = pd.concat([read_tsv(p) for p in volume_tables], ignore_index=True)
    participants = read_participants(participants_path, covariates)
    rates, differences = model_rates(
        volumes, participants, regions, reference_group, covariates, level, participants_path
    )
    subject_rates = pd.concat([read_tsv(p) for p in rate_tables], ignore_index=True)
    subject_rates.insert(1, "group", subject_rates["participant_id"].map(participants["group"]))
    return volumes, subject_rates, rates, differences


def write_tsv(table: pd.DataFrame, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.10g")
