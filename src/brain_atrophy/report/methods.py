"""A methods paragraph generated from the run: software, regions, how volume change was
measured, model, window, numbers."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

import pandas as pd

from .. import __version__
from ..stats.columns import JACOBIAN, LABELS, OUTCOME_TERMS

PACKAGES = ["snakemake", "nibabel", "numpy", "scipy", "pandas", "statsmodels", "matplotlib", "antspyx"]


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "brain-atrophy": __version__}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _join(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _window_text(description: dict) -> str:
    """Which scans were analysed, per group when the window applies to some groups only."""
    window = description["window"]
    if not window["start_weeks"] and window["end_weeks"] is None:
        return "All scans were analysed. "
    end = f" to week {window['end_weeks']:g}" if window["end_weeks"] is not None else ""
    rebaselined = (
        ", each subject re-baselined at its first scan in that window" if window["rebaseline"] else ""
    )
    windowed = window.get("groups") or description["groups"]
    others = [g for g in description["groups"] if g not in windowed]
    if not others:
        return f"Scans from week {window['start_weeks']:g}{end} on study were analysed{rebaselined}. "
    return (
        f"For {_join(windowed)}, scans from week {window['start_weeks']:g}{end} on study were analysed"
        f"{rebaselined} (leaving out the first weeks' pseudo-atrophy); for {_join(others)}, every scan. "
    )


def _outcome_text(description: dict) -> str:
    if description.get("outcome") != "icv_fraction":
        return ""
    return (
        "The outcome was each region's volume as a fraction of the same session's intracranial volume "
        f"(ICV: {description.get('outcome_icv_source', 'n/a')}); rates are % per year of that fraction. "
    )


def _jacobian_text(description: dict) -> str:
    """How Jacobian integration measured the follow-ups (change_measure: jacobian), and whether
    the label counts were modelled beside it; empty for label counting."""
    if description.get("change_measure", LABELS) != JACOBIAN:
        return ""
    comparison = description.get("measure_comparison") or {}
    if LABELS in (comparison.get("measures") or []):
        compared = (
            "For comparison, the label-count volumes of the same sessions were modelled with the same "
            "model (group/rates_by_measure.tsv). "
        )
    elif comparison.get("reason"):
        compared = f"Label counts were not modelled for comparison: {comparison['reason']}. "
    else:
        compared = ""
    return (
        "Follow-up volumes were measured by Jacobian integration, which reads every follow-up against "
        "the subject's baseline rather than segmenting it anew: each follow-up T1w was registered to the "
        "baseline T1w, first rigidly (mutual information, inside the baseline's brain mask), then both "
        "images were resampled once into the space halfway between them and corrected for bias field "
        "(N4), and deformably with ANTs SyN (symmetric diffeomorphic normalization, local "
        "cross-correlation metric). Each region's follow-up volume was its baseline volume times the "
        "mean Jacobian determinant of the deformation over the region's baseline voxels; the baseline "
        "volumes were counted in the baseline label image. Each registration was checked by the "
        "correlation of the baseline and the warped follow-up inside the brain, the fraction of brain "
        "voxels where the deformation folded and the mean log-Jacobian in a shell outside the brain, "
        "where nothing should change; flagged pairs are listed in the QC table. "
        f"{compared}"
    )


def _atlas_text(description: dict) -> str:
    """Where the baseline labels came from under atlas_registration; empty otherwise."""
    atlas = description.get("atlas_registration")
    if not atlas:
        return ""
    how = {
        "genericLabel": "per-label interpolation (the label with the largest interpolated indicator)",
        "nearestNeighbor": "nearest-neighbour interpolation",
    }[atlas.get("label_interpolation", "genericLabel")]
    metric = {"mattes": "mutual information", "CC": "local cross-correlation"}[atlas.get("metric", "mattes")]
    return (
        "No segmentation was used: each subject's baseline regions came from an atlas "
        f"({Path(atlas['labels']).name}) on a template T1w ({Path(atlas['template']).name}), which was "
        "smoothed to the subject image's resolution and registered to the baseline T1w, affine then ANTs "
        f"SyN ({metric}, SyN iterations {atlas.get('iterations')}), the metric restricted to the template's "
        f"brain mask and a margin; the atlas labels followed the same maps by {how}. Each fit was checked "
        "by the correlation of the baseline and the registered template inside the brain. "
    )


def methods_text(description: dict, rates: pd.DataFrame, regions: dict, software: dict) -> str:
    counts = rates.drop_duplicates("group").set_index("group")
    first_region = rates.dropna(subset=["n_subjects"])["region"].iloc[0]
    per_group = rates[rates["region"] == first_region].set_index("group")
    cohort = _join(
        f"{int(per_group.loc[g, 'n_subjects'])} {g} subjects ({int(per_group.loc[g, 'n_sessions'])} sessions)"
        for g in counts.index
    )
    window_text = _window_text(description)
    covariates = description["covariates"] + [
        c for c in description["slope_covariates"] if c not in description["covariates"]
    ]
    if covariates:
        references = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                               for k, v in description["covariate_reference_values"].items())  # fmt: skip
        covariate_text = (
            f" adjusted for {_join(covariates)} on the intercept"
            + (
                f" and for {_join(description['slope_covariates'])} on the slope"
                if description["slope_covariates"]
                else ""
            )
            + f"; rates are reported at {references}"
        )
    else:
        covariate_text = ""
    models = sorted({r["model"] for r in description["regions"].values()})
    region_text = "; ".join(f"{name} ({_definition(definition)})" for name, definition in regions.items())
    tissue_maps = any(not isinstance(definition[0], int) for definition in regions.values())
    source_text = "tissue probability maps" if tissue_maps else "discrete segmentations"
    volume_text = (
        "Each region's volume was the sum of its tissue probabilities times the voxel volume "
        "from the image header"
        if tissue_maps
        else "Each region's volume was its voxel count times the voxel volume from the image header"
    )
    correction = {"fdr_bh": "Benjamini–Hochberg false discovery rate", "holm": "Holm"}[
        description["correction"]
    ]
    level = round(100 * description["confidence_level"])
    outcome_term = OUTCOME_TERMS[description.get("outcome", "volume")]
    jacobian = description.get("change_measure", LABELS) == JACOBIAN
    if jacobian:
        source_text += " and T1w images"
        volume_text = volume_text.replace("Each region's volume", "In each label image, a region's volume")
    ants = f", ANTsPy {software['antspyx']}" if jacobian and "antspyx" in software else ""
    return (
        "## Methods\n\n"
        f"Regional brain volumes were measured with brain-atrophy {software['brain-atrophy']} "
        f"(Snakemake {software['snakemake']}, Python {software['python']}, nibabel {software['nibabel']}, "
        f"NumPy {software['numpy']}, SciPy {software['scipy']}, pandas {software['pandas']}, "
        f"statsmodels {software['statsmodels']}{ants}) from {source_text} of {cohort}. "
        f"{volume_text}. "
        f"{_atlas_text(description)}"
        f"{_jacobian_text(description)}"
        f"Regions: {region_text}. "
        f"{window_text}"
        f"Time was measured in years from each subject's first scan ({_time_text(description)}). "
        f"{_outcome_text(description)}"
        f"For each region, 100·ln({outcome_term}) was modelled with a linear mixed-effects model fitted by "
        "restricted maximum likelihood, with a fixed intercept and slope on time for each group"
        f"{covariate_text}, and a random intercept and random slope on time per subject with an "
        "unstructured covariance (falling back to uncorrelated random effects, then a random intercept "
        "only, when a fit was singular or did not converge; "
        f"structures used: {_join(models)}). "
        "A group's annualized rate of change is 100·(exp(b/100) − 1) %/yr for its slope b; "
        f"{level} % confidence intervals and tests of group differences used Satterthwaite "
        "degrees of freedom. "
        f"{_scanner_text(description)}"
        f"P-values were corrected across regions and contrasts with the {correction} procedure. "
        f"Per-subject rates (least-squares slopes of ln({outcome_term})) were compared between groups with "
        "Welch's t-test and an ANCOVA as a sensitivity analysis.\n"
    )


def _scanner_text(description: dict) -> str:
    """The acquisitions and whether the model adjusted for them, as analysis.json records it."""
    decision = description.get("scanner_adjustment")
    if not decision or len(decision["acquisitions"]) < 2:
        return ""
    named = _join(
        f"{name} ({a['n_sessions']} sessions of {a['n_subjects']} subjects)"
        for name, a in decision["acquisitions"].items()
    )
    if decision["adjusted"]:
        return (
            f"Sessions were acquired on {len(decision['acquisitions'])} acquisitions: {named}. Each "
            f"acquisition other than {decision['reference_scanner']} entered the model as a session-level "
            "fixed effect (a step in 100·ln(volume)), identified by subjects scanned on both sides "
            f"({decision['reason']}). "
        )
    return (
        f"Sessions were acquired on {len(decision['acquisitions'])} acquisitions: {named}. "
        f"WARNING: the model was not adjusted for them ({decision['reason']}); scanner changes may "
        "bias the rates. "
    )


def _time_text(description: dict) -> str:
    """Where the sessions' times came from, as analysis.json records it."""
    sources = description.get("time_sources") or ["sessions.tsv acq_time"]
    return "session times from " + _join(sources)


def _definition(definition) -> str:
    """'labels 10, 49' for a label region; 'tissue GM + WM within atlas labels 10, 49' for a
    tissue-map region ((tissues, labels or None))."""
    if isinstance(definition[0], int):
        return f"labels {_label_ranges(definition)}"
    tissues, labels = definition
    within = f" within atlas labels {_label_ranges(labels)}" if labels else ""
    return f"tissue {' + '.join(tissues)}{within}"


def _label_ranges(labels) -> str:
    labels = sorted(labels)
    parts, start, previous = [], labels[0], labels[0]
    for label in labels[1:] + [None]:
        if label is not None and label == previous + 1:
            previous = label
            continue
        parts.append(str(start) if start == previous else f"{start}–{previous}")
        if label is not None:
            start = previous = label
    return ", ".join(parts)
