"""The subject's baseline labels from an atlas (atlas_registration): the atlas labels carried
onto the baseline T1w through the template's registration (rule register_template), written
as a BIDS derivative (``desc-atlas_dseg`` with a sidecar naming the template and atlas)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from .. import paths
from ..errors import InputError
from ..register import quality
from ..register.job import raise_recorded_fault

log = logging.getLogger(__name__)

# config 'qc' default: a template registered to a subject correlates less than two scans of one
# subject do (the pairs' min_similarity), as anatomy and contrast differ
MIN_TEMPLATE_SIMILARITY = 0.8


def template_fit(folder, subject: str, session: str) -> tuple[dict, dict]:
    """The template job's QC record and files; a subject left out under --keep-going raises its
    recorded fault."""
    files = paths.atlas_registration_files(folder, subject, session)
    raise_recorded_fault(files["errors"])
    return json.loads(files["measures"].read_text()), files


def atlas_baseline(
    subject: str,
    baseline: str,
    t1w,
    registration_folder,
    atlas: dict,
    regions: dict,
    subject_dir,
    qc_thresholds: dict | None = None,
) -> tuple[Path, dict]:
    """Carry ``atlas`` ({"template", "labels", "label_interpolation"}) onto the baseline ``t1w``;
    returns the written label image and the template registration's QC row. ``regions``
    ({region: labels}) must each find a label in the atlas."""
    import nibabel as nib

    from ..register.template import carry_labels

    measures, files = template_fit(registration_folder, subject, baseline)
    check_atlas_labels(atlas["labels"], regions)
    labels = carry_labels(
        t1w,
        atlas["labels"],
        atlas["template"],
        [str(files["warp"]), str(files["affine"])],
        atlas["label_interpolation"],
    )
    if not labels.any():
        raise InputError(atlas["labels"], f"no atlas label reaches the T1w {t1w} after registration")
    path = paths.atlas_labels(subject_dir, subject, baseline)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(labels.astype("int16"), nib.load(str(t1w)).affine)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)
    sidecar = {
        "Description": "atlas labels carried onto this session's T1w by registering the template to it",
        "Sources": [str(t1w)],
        "Template": str(atlas["template"]),
        "Atlas": str(atlas["labels"]),
        "Interpolation": atlas["label_interpolation"],
    }
    path.with_name(path.name.replace(".nii.gz", ".json")).write_text(json.dumps(sidecar, indent=2) + "\n")
    log.info("%s: atlas %s carried onto %s", paths.participant_id(subject), atlas["labels"], t1w)
    return path, template_row(subject, baseline, measures, qc_thresholds or {})


def check_atlas_labels(labels_path, regions: dict) -> None:
    """Every region of the table has at least one of its labels in the atlas: else an
    InputError naming the atlas and the regions it lacks."""
    import numpy as np

    from .images import read_image

    image = read_image(labels_path)
    present = set(np.unique(image.voxels).astype(int).tolist())
    missing = {name: labels for name, labels in regions.items() if not present.intersection(labels)}
    if missing:
        listed = "; ".join(f"{name} ({' '.join(map(str, labels))})" for name, labels in missing.items())
        raise InputError(labels_path, f"the atlas has none of the labels of region(s) {listed}")


def template_row(subject: str, baseline: str, measures: dict, qc_thresholds: dict) -> dict:
    """The template registration's row of the subject's registration table: its similarity and
    a ``poor_alignment`` flag below config 'qc' ``min_template_similarity``."""
    threshold = qc_thresholds.get("min_template_similarity", MIN_TEMPLATE_SIMILARITY)
    similarity = measures["similarity"]
    poor = not math.isfinite(similarity) or similarity < threshold
    return {
        "participant_id": paths.participant_id(subject),
        "session_id": paths.session_id(baseline),
        "baseline_session_id": "template",
        "similarity": similarity,
        "shell_log_jacobian": "n/a",
        "folding_fraction": "n/a",
        "seconds": measures["seconds"],
        "flags": quality.POOR_ALIGNMENT if poor else "",
    }
