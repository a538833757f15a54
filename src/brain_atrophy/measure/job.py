"""Command-line entry of the per-subject job (rule subject_volumes):

    python -m brain_atrophy.measure.job --subject 01 --regions regions.tsv --output DIR \\
        --log LOG --image w0 sub-01_ses-w0_dseg.nii.gz --image w48 ... [--t1w w0 T1w.nii.gz]

Tissue-map mode passes ``--tissue NAME`` for every tissue and ``--tissue-map SESSION TISSUE
PATH`` for every map.

Every executor runs it as a process of its own, from the rule's ``shell:`` (rules/subjects.smk):
a crash in C code takes down one subject, not the run.

Under --keep-going (BRAIN_ATROPHY_KEEP_GOING=1, set by the workflow) a fault in the subject's
data leaves only a record of it in the output folder, and the job succeeds.
"""

from __future__ import annotations

import argparse
import json

from .. import paths
from ..errors import InputError
from ..scripting import keep_going, run_logged
from .subject import process_subject, record_error

RULE = "subject_volumes"


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m brain_atrophy.measure.job", description=__doc__)
    parser.add_argument("--subject", required=True, help="subject label (no 'sub-')")
    parser.add_argument("--regions", required=True, help="region table (TSV)")
    parser.add_argument("--label-table", help="the segmentation's dseg.tsv naming its labels")
    parser.add_argument("--atlas", help="atlas label image (tissue-map mode)")
    parser.add_argument("--output", required=True, help="the subject's output folder")
    parser.add_argument("--log", help="the job's log file (default: stderr)")
    parser.add_argument(
        "--image", nargs=2, action="append", default=[], metavar=("SESSION", "PATH"), help="label image"
    )
    parser.add_argument("--tissue", action="append", default=[], help="tissue name (tissue-map mode)")
    parser.add_argument(
        "--tissue-map",
        nargs=3,
        action="append",
        default=[],
        metavar=("SESSION", "TISSUE", "PATH"),
        help="one tissue's probability map",
    )
    parser.add_argument(
        "--t1w", nargs=2, action="append", default=[], metavar=("SESSION", "PATH"), help="T1w image"
    )
    parser.add_argument(
        "--jacobian",
        nargs="+",
        metavar="SESSION",
        help="change_measure: jacobian, measuring these sessions in order (the first is the baseline)",
    )
    parser.add_argument("--qc", default="{}", help="QC thresholds of registered pairs (JSON; config 'qc')")
    parser.add_argument(
        "--registration",
        nargs=2,
        action="append",
        default=[],
        metavar=("SESSION", "FOLDER"),
        help="a follow-up's registration to the baseline (the register_session job's folder)",
    )
    parser.add_argument(
        "--atlas-registration",
        help="atlas_registration: the template's registration to the baseline (register_template's folder)",
    )
    parser.add_argument(
        "--atlas-labels", help="atlas_registration: the atlas label image, carried onto the baseline T1w"
    )
    parser.add_argument("--template", help="atlas_registration: the template T1w the atlas labels lie on")
    parser.add_argument(
        "--label-interpolation",
        default="genericLabel",
        choices=["genericLabel", "nearestNeighbor"],
        help="how the atlas labels are carried over",
    )
    arguments = parser.parse_args(argv)
    if arguments.atlas_registration and not (
        arguments.jacobian and arguments.atlas_labels and arguments.template
    ):
        parser.error("--atlas-registration needs --jacobian, --atlas-labels and --template")
    if arguments.jacobian:
        if arguments.tissue:
            parser.error("--jacobian measures label images, not tissue maps")
    elif bool(arguments.tissue) == bool(arguments.image):
        parser.error("give either --image (label images) or --tissue with --tissue-map (tissue maps)")
    return arguments


def session_images(arguments: argparse.Namespace) -> dict:
    """{session: label image}, or in tissue-map mode {session: {tissue: map}}, in the order given."""
    if not arguments.tissue:
        return dict(arguments.image)
    images: dict = {}
    for session, tissue, path in arguments.tissue_map:
        images.setdefault(session, {})[tissue] = path
    return images


def measure_subject(arguments: argparse.Namespace) -> None:
    if arguments.jacobian:
        from .longitudinal import process_subject_jacobian

        images, template_rows = dict(arguments.image), []
        if arguments.atlas_registration:
            from ..inputs.regions import load_regions
            from .atlas import atlas_baseline

            baseline = arguments.jacobian[0]
            t1w = dict(arguments.t1w).get(baseline)
            if t1w is None:
                raise InputError(
                    arguments.atlas_registration, f"the baseline {paths.session_id(baseline)} has no T1w"
                )
            images[baseline], row = atlas_baseline(
                arguments.subject,
                baseline,
                t1w,
                arguments.atlas_registration,
                {
                    "template": arguments.template,
                    "labels": arguments.atlas_labels,
                    "label_interpolation": arguments.label_interpolation,
                },
                load_regions(arguments.regions, arguments.label_table),
                arguments.output,
                json.loads(arguments.qc),
            )
            template_rows.append(row)
        process_subject_jacobian(
            subject=arguments.subject,
            sessions=arguments.jacobian,
            images=images,
            template_rows=template_rows,
            t1w_images=dict(arguments.t1w),
            registrations=dict(arguments.registration),
            region_tsv=arguments.regions,
            label_tsv=arguments.label_table,
            subject_dir=arguments.output,
            qc_thresholds=json.loads(arguments.qc),
        )
        return
    process_subject(
        subject=arguments.subject,
        images=session_images(arguments),
        region_tsv=arguments.regions,
        label_tsv=arguments.label_table,
        t1w_images=dict(arguments.t1w),
        tissues=arguments.tissue,
        atlas=arguments.atlas,
        subject_dir=arguments.output,
    )


def measure(arguments: argparse.Namespace) -> None:
    keep_going(
        lambda: measure_subject(arguments),
        arguments.output,
        lambda err: record_error(arguments.output, arguments.subject, err),
        "subject",
    )


def main(argv=None) -> None:
    arguments = parse_arguments(argv)
    run_logged(arguments.log, RULE, lambda: measure(arguments))


if __name__ == "__main__":
    main()
