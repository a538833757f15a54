"""The files that make the output directory a BIDS-Derivatives dataset the validator accepts.

BIDS has no names for volume or rate tables, figures, logs or group-level statistics, so the
dataset lists them in a ``.bidsignore`` at its root (gitignore syntax), as fMRIPrep does. Their
columns are described once, at the root, by ``volumes.json``: by the BIDS inheritance principle
a sidecar at the top applies to every ``*_volumes.tsv`` below it. The official validator
(``bids-validator-deno``) still reports a top-level sidecar whose data files it ignores
(SIDECAR_WITHOUT_DATAFILE, NOT_INCLUDED), so the sidecar is listed too.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import paths

BIDS_VERSION = "1.9.0"
MM3 = "mm^3"
# Columns of sub-<label>/ses-<label>/anat/*_volumes.tsv (one session) and of
# sub-<label>/anat/*_volumes.tsv (every session of the subject).
VOLUME_COLUMNS = {
    "participant_id": {"Description": "Subject identifier (sub-<label>)."},
    "session_id": {"Description": "Session identifier (ses-<label>)."},
    "region": {
        "Description": "Region name, from the region table of the run (config 'regions'), which lists "
        "the labels (or tissues) that make up each region.",
    },
    "method": {
        "Description": "How the row's volume was measured (config 'change_measure'). With 'jacobian' "
        "every session has 'jacobian' rows (the baseline's equal its label counts) and a session that "
        "also has a label image has 'labels' rows beside them.",
        "Levels": {
            "labels": "Counted in the session's own label image (or summed from its tissue probability "
            "maps).",
            "jacobian": "Jacobian integration: the baseline's region volume times the mean Jacobian "
            "determinant, over the region's baseline voxels, of the follow-up T1w's registration to the "
            "baseline T1w.",
        },
    },
    "volume_mm3": {
        "Description": "Volume of the region: n_voxels × voxel_mm3 for a label image; for tissue "
        "probability maps, Σ probability × voxel_mm3 over the region's tissues; for a 'jacobian' row, the "
        "baseline's volume times the region's mean Jacobian determinant.",
        "Units": MM3,
    },
    "n_voxels": {
        "Description": "Number of voxels carrying one of the region's labels; for tissue probability "
        "maps, the effective count Σ probability, rounded; for a 'jacobian' row, the baseline's count.",
    },
    "labelled_mm3": {
        "Description": "Volume of all labelled (non-zero) voxels of the image, whatever their label: "
        "the segmented intracranial volume when the segmenter labels CSF (FreeSurfer, SynthSeg); "
        "for tissue probability maps, the summed volume of every tissue map; for a 'jacobian' row, the "
        "baseline's labelled volume times the mean Jacobian determinant over all its labelled voxels.",
        "Units": MM3,
    },
    "voxel_mm3": {
        "Description": "Volume of one voxel, from the image header: |det| of the 3×3 part of the "
        "voxel-to-world affine (right for flipped, oblique and anisotropic grids); for a 'jacobian' row, "
        "the baseline label image's.",
        "Units": MM3,
    },
}
# Columns of sub-<label>/anat/sub-<label>_registration.tsv (change_measure: jacobian): one row
# per follow-up, its registration to the subject's baseline.
REGISTRATION_COLUMNS = {
    "participant_id": {"Description": "Subject identifier (sub-<label>)."},
    "session_id": {"Description": "The follow-up session (ses-<label>) registered to the baseline."},
    "baseline_session_id": {
        "Description": "The subject's baseline session (ses-<label>): its first. 'template' on the row "
        "of the template's registration to the baseline (atlas_registration), whose similarity is that "
        "of the baseline and the registered template, and whose Jacobian measures are n/a."
    },
    "similarity": {
        "Description": "Pearson correlation of the baseline T1w and the warped follow-up T1w inside the "
        "brain (1: identical; low values mean poor alignment).",
    },
    "shell_log_jacobian": {
        "Description": "Mean natural log of the Jacobian determinant in a shell just outside the brain, "
        "where nothing should change: about 0; a drift away from 0 is a scaling error.",
    },
    "folding_fraction": {
        "Description": "Fraction of brain voxels where the Jacobian determinant is ≤ 0 (the deformation "
        "folded).",
    },
    "seconds": {"Description": "Wall-clock time of the registration.", "Units": "s"},
    "flags": {
        "Description": "The pair's QC flags (thresholds in the config's 'qc'), also in group/qc.tsv; "
        "empty when none.",
        "Delimiter": ",",
        "Levels": {
            "registration_failed": "The deformation folded, drifted outside the brain or is not finite.",
            "poor_alignment": "The baseline and the warped follow-up correlate too little.",
        },
    },
}


def dataset_description(version: str, code_url: str, sources) -> dict:
    """The BIDS-Derivatives ``dataset_description.json``; ``sources`` are the input datasets'
    directories, named by absolute ``file://`` URIs."""
    return {
        "Name": "brain-atrophy: regional volumes and atrophy rates",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "brain-atrophy", "Version": version, "CodeURL": code_url}],
        "SourceDatasets": [{"URL": Path(path).resolve().as_uri()} for path in sources],
    }


def bidsignore() -> str:
    """The ``.bidsignore`` text: one pattern a line, each group under a comment."""
    lines = []
    for comment, patterns in paths.BIDSIGNORE_PATTERNS:
        lines += [f"# {comment}", *patterns]
    return "\n".join(lines) + "\n"


def bidsignore_patterns() -> list[str]:
    return [pattern for _, patterns in paths.BIDSIGNORE_PATTERNS for pattern in patterns]


def write_json(path, content: dict) -> None:
    Path(path).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_dataset_files(
    description_path,
    bidsignore_path,
    volumes_path,
    version: str,
    code_url: str,
    sources,
    registration_path=None,
) -> None:
    """Write the description, the ``.bidsignore`` and the top-level column sidecars (the
    registration tables' with ``registration_path``: change_measure: jacobian)."""
    write_json(description_path, dataset_description(version, code_url, sources))
    Path(bidsignore_path).write_text(bidsignore(), encoding="utf-8")
    write_json(volumes_path, VOLUME_COLUMNS)
    if registration_path is not None:
        write_json(registration_path, REGISTRATION_COLUMNS)
