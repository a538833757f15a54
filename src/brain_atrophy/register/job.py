"""Command-line entry of the per-pair job (rule register_session): one follow-up T1w
registered to its subject's baseline T1w.

    python -m brain_atrophy.register.job --subject 01 --session w48 --baseline-t1w B.nii.gz \\
        --followup-t1w F.nii.gz --labels B_dseg.nii.gz --settings '{"iterations": [40, 20, 4]}' \\
        --output DIR --log LOG

Writes the Jacobian determinant on the baseline T1w's grid, the follow-up warped onto it, and
the pair's QC measures (brain_atrophy.paths.registration_files). Under --keep-going
(BRAIN_ATROPHY_KEEP_GOING=1) a fault in the pair's data leaves only a record of it, and the
subject's job reports it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import InputError
from ..scripting import keep_going, run_logged
from ..tables import read_table, write_rows

RULE = "register_session"


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m brain_atrophy.register.job", description=__doc__)
    for name, text in [
        ("--subject", "subject label (no 'sub-')"),
        ("--session", "the follow-up's session label"),
        ("--baseline-t1w", "the subject's baseline T1w"),
        ("--followup-t1w", "the follow-up's T1w"),
        ("--labels", "the baseline's label image (its brain is the registration's mask)"),
        ("--output", "the pair's output folder"),
    ]:
        parser.add_argument(name, required=True, help=text)
    add_job_options(parser, "registration settings (JSON; config 'registration')")
    return parser.parse_args(argv)


def add_job_options(parser: argparse.ArgumentParser, settings_help: str) -> None:
    """The options every registration job shares: its settings, threads and log."""
    parser.add_argument("--settings", default="{}", help=settings_help)
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("OMP_NUM_THREADS", "1")),
        help="default: OMP_NUM_THREADS, which Snakemake sets to the rule's threads",
    )
    parser.add_argument("--log", help="the job's log file (default: stderr)")


def baseline_labels(labels_path, t1w_path) -> np.ndarray:
    """The baseline labels on the baseline T1w's grid (carried over by the affines when they
    were made on another grid, as the log says)."""
    import logging

    import nibabel as nib

    from ..measure.regrid import labels_on_grid

    try:
        labels, t1w = nib.load(str(labels_path)), nib.load(str(t1w_path))
    except Exception as err:  # nibabel raises several types for unreadable files
        raise InputError(labels_path, f"cannot be read ({err})") from None
    if len(t1w.shape) != 3:
        raise InputError(t1w_path, f"T1w is not a 3D image (shape {t1w.shape})")
    if len(labels.shape) != 3:
        raise InputError(labels_path, f"label image is not 3D (shape {labels.shape})")
    if labels.shape != t1w.shape or not np.allclose(labels.affine, t1w.affine, atol=1e-3):
        logging.getLogger(__name__).info(
            "labels %s are on another grid than the T1w %s: carried over by their affines (nearest)",
            labels_path,
            t1w_path,
        )
    return labels_on_grid(
        np.asarray(labels.dataobj), labels.affine, t1w.shape, t1w.affine, (labels_path, t1w_path)
    )


def register(arguments: argparse.Namespace) -> None:
    import nibabel as nib

    from . import quality
    from .pair import register_pair

    files = paths.registration_files(arguments.output, arguments.subject, arguments.session)
    labels = baseline_labels(arguments.labels, arguments.baseline_t1w)
    result = register_pair(
        arguments.baseline_t1w,
        arguments.followup_t1w,
        labels,
        json.loads(arguments.settings),
        arguments.threads,
    )
    measures = result.measures
    if quality.diverged(measures) or not np.all(np.isfinite(result.jacobian[labels > 0])):
        raise InputError(
            arguments.followup_t1w,
            f"registration to {arguments.baseline_t1w} diverged (folding fraction "
            f"{measures['folding_fraction']:.4f}, mean log-Jacobian outside the brain "
            f"{measures['shell_log_jacobian']:.4f})",
        )
    affine = nib.load(str(arguments.baseline_t1w)).affine
    Path(arguments.output).mkdir(parents=True, exist_ok=True)
    for key in ("jacobian", "warped"):
        image = nib.Nifti1Image(getattr(result, key), affine)
        image.header.set_xyzt_units("mm")
        nib.save(image, files[key])
    record = {
        "baseline_t1w": str(arguments.baseline_t1w),
        "followup_t1w": str(arguments.followup_t1w),
        "labels": str(arguments.labels),
        "settings": json.loads(arguments.settings),
        **measures,
    }
    files["measures"].write_text(json.dumps(record, indent=2) + "\n")


def raise_recorded_fault(path) -> None:
    """Raise again the fault a registration job recorded at ``path`` (--keep-going), if any."""
    if Path(path).is_file():
        row = read_table(path).rows[0]
        raise InputError(row["file"], row["fault"])


def write_fault(path, subject: str, session: str, err: InputError) -> None:
    """A registration job's errors table at ``path``, alone in its folder (--keep-going): the
    subject's job raises it again (measure.longitudinal.pair_result, measure.atlas.template_fit)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    row = {
        "participant_id": paths.participant_id(subject),
        "session_id": paths.session_id(session),
        "file": err.source,
        "fault": err.fault,
    }
    write_rows(path, list(row), [row])


def record_fault(arguments: argparse.Namespace, err: InputError) -> None:
    files = paths.registration_files(arguments.output, arguments.subject, arguments.session)
    write_fault(files["errors"], arguments.subject, arguments.session, err)


def run(arguments: argparse.Namespace) -> None:
    keep_going(
        lambda: register(arguments), arguments.output, lambda err: record_fault(arguments, err), "pair"
    )


def main(argv=None) -> None:
    arguments = parse_arguments(argv)
    run_logged(arguments.log, RULE, lambda: run(arguments))


if __name__ == "__main__":
    main()
