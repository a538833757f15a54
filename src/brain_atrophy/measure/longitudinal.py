"""One subject's sessions by Jacobian integration (change_measure: jacobian).

The baseline (first) session's regions come from its label image; every follow-up's from the
baseline's, scaled by the mean Jacobian determinant of the follow-up's registration to the
baseline (measure.jacobian). A follow-up that also has a label image gets its label-count rows
beside the Jacobian ones. The QC mosaic shows the baseline with its regions, then each
follow-up warped onto the baseline with the baseline's region outlines.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import InputError
from ..inputs.regions import load_regions
from ..register import quality
from ..register.job import raise_recorded_fault
from ..tables import write_rows
from .images import read_image
from .jacobian import followup_rows, integrate, region_masks
from .mosaic import draw_mosaic, session_row
from .regrid import labels_on_grid
from .subject import JACOBIAN, SESSION_COLUMNS, VOLUME_COLUMNS, session_volumes

log = logging.getLogger(__name__)

# config 'qc' defaults for registered pairs (schemas/config.schema.yaml states the same)
QC_DEFAULTS = {"min_similarity": 0.9, "max_folding_fraction": 0.0005, "max_shell_log_jacobian": 0.01}
REGISTRATION_COLUMNS = [
    "participant_id", "session_id", "baseline_session_id", "similarity", "shell_log_jacobian",
    "folding_fraction", "seconds", "flags",
]  # fmt: skip


def _volume(path) -> tuple[np.ndarray, np.ndarray]:
    """A 3D image's voxels (in index order) and affine."""
    image = read_image(path)
    return image.voxels.reshape(image.shape, order="F"), image.affine


def check_sessions(sessions: list[str], images: dict, t1w_images: dict, registrations: dict) -> None:
    """Every session needs a T1w, and the baseline (first) a label image: else an InputError
    naming the file that is there."""
    baseline = sessions[0]
    for session in sessions:
        if session not in t1w_images:
            source = images.get(session) or registrations.get(session) or paths.session_id(session)
            raise InputError(
                source,
                f"{paths.session_id(session)} has no T1w: Jacobian integration registers every session's T1w",
            )
    if baseline not in images:
        raise InputError(
            t1w_images[baseline],
            f"the baseline session {paths.session_id(baseline)} has no label image: "
            "Jacobian integration needs the baseline's region labels",
        )


def pair_result(folder, subject: str, session: str) -> tuple[dict, Path]:
    """A registration job's QC record and its Jacobian map; a pair left out under --keep-going
    raises its recorded fault."""
    files = paths.registration_files(folder, subject, session)
    raise_recorded_fault(files["errors"])
    return json.loads(files["measures"].read_text()), files


def process_subject_jacobian(
    subject: str,
    sessions: list[str],
    images: dict[str, str],
    t1w_images: dict[str, str],
    registrations: dict[str, str],
    region_tsv,
    subject_dir,
    label_tsv=None,
    qc_thresholds: dict | None = None,
    template_rows: list[dict] | None = None,
) -> None:
    """Measure ``sessions`` (in order; the first is the baseline) of ``subject`` by Jacobian
    integration and write its per-session, volume and registration tables and its QC mosaic.
    ``images`` holds the label images there are, ``t1w_images`` every session's T1w and
    ``registrations`` each follow-up's registration folder; ``qc_thresholds`` (config 'qc')
    flag a pair as ``registration_failed`` or ``poor_alignment``; ``template_rows`` (atlas_registration)
    open the registration table."""
    check_sessions(sessions, images, t1w_images, registrations)
    regions = load_regions(region_tsv, label_tsv)
    baseline = sessions[0]
    outputs = paths.subject_outputs(subject_dir, subject, sessions)
    sub, baseline_id = paths.participant_id(subject), paths.session_id(baseline)

    baseline_image = read_image(images[baseline])  # read once: counted, then carried onto the T1w
    baseline_rows = session_volumes(images[baseline], regions, baseline_image)
    t1w, t1w_affine = _volume(t1w_images[baseline])
    if t1w.ndim != 3:
        raise InputError(t1w_images[baseline], f"T1w is not a 3D image (shape {t1w.shape})")
    labels = baseline_image.voxels.reshape(baseline_image.shape, order="F")
    labels_affine = baseline_image.affine
    if labels.shape != t1w.shape or not np.allclose(labels_affine, t1w_affine, atol=1e-3):
        log.info(
            "%s: labels carried onto the T1w %s by their affines", images[baseline], t1w_images[baseline]
        )
    labels = labels_on_grid(
        labels, labels_affine, t1w.shape, t1w_affine, (images[baseline], t1w_images[baseline])
    )
    weights = region_masks(labels, regions)
    weights["labelled"] = labels > 0

    per_session = {baseline: [{**row, "method": JACOBIAN} for row in baseline_rows] + baseline_rows}
    mosaic_rows = [session_row(sub, baseline_id, labels, t1w)]
    registration_rows = list(template_rows or [])
    for session in sessions[1:]:
        measures, files = pair_result(registrations[session], subject, session)
        jacobian, _ = _volume(files["jacobian"])
        means = integrate(jacobian, weights, files["jacobian"])
        rows = followup_rows(baseline_rows, means, means.pop("labelled"))
        per_session[session] = [{**row, "method": JACOBIAN} for row in rows]
        if session in images:
            per_session[session] += session_volumes(images[session], regions)
        warped, _ = _volume(files["warped"])
        mosaic_rows.append(session_row(sub, f"{paths.session_id(session)} on {baseline_id}", labels, warped))
        registration_rows.append(
            {
                "participant_id": sub,
                "session_id": paths.session_id(session),
                "baseline_session_id": baseline_id,
                **{
                    key: measures[key]
                    for key in ("similarity", "shell_log_jacobian", "folding_fraction", "seconds")
                },
                "flags": ",".join(quality.flags(measures, {**QC_DEFAULTS, **(qc_thresholds or {})})),
            }
        )
        log.info("%s %s: Jacobian integration of %s", sub, paths.session_id(session), files["jacobian"])

    long_rows = []
    for session, rows in per_session.items():
        write_rows(outputs["sessions"][session], SESSION_COLUMNS, rows)
        ids = {"participant_id": sub, "session_id": paths.session_id(session)}
        long_rows += [{**ids, **row} for row in rows]
    write_rows(outputs["volumes"], VOLUME_COLUMNS, long_rows)
    write_rows(outputs["registration"], REGISTRATION_COLUMNS, registration_rows)
    os.makedirs(outputs["mosaic"].parent, exist_ok=True)
    draw_mosaic(mosaic_rows, regions, outputs["mosaic"])
