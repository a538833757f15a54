"""Command-line entry of the per-subject template job (rule register_template): the template
T1w registered to the subject's baseline T1w (atlas_registration).

    python -m brain_atrophy.register.template_job --subject 01 --session w0 --t1w B_T1w.nii.gz \\
        --template tpl_T1w.nii.gz [--brain-mask tpl_mask.nii.gz] --settings '{}' --output DIR --log LOG

Writes the maps from the template to the T1w, the template's brain mask on the T1w's grid (the
follow-ups' registrations restrict their metric to it) and the QC measures
(brain_atrophy.paths.atlas_registration_files). The atlas labels are carried over by the subject
job, so that a new atlas re-registers nothing. Under --keep-going a fault in the subject's data
leaves only a record of it, and the subject's job reports it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import paths
from ..errors import InputError
from ..scripting import keep_going, run_logged
from .job import add_job_options, write_fault

RULE = "register_template"


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m brain_atrophy.register.template_job", description=__doc__
    )
    for name, text in [
        ("--subject", "subject label (no 'sub-')"),
        ("--session", "the baseline's session label"),
        ("--t1w", "the subject's baseline T1w"),
        ("--template", "the template T1w"),
        ("--output", "the job's output folder"),
    ]:
        parser.add_argument(name, required=True, help=text)
    parser.add_argument("--brain-mask", help="the template's brain mask (default: its nonzero voxels)")
    add_job_options(parser, "config 'atlas_registration' settings (JSON)")
    return parser.parse_args(argv)


def register(arguments: argparse.Namespace) -> None:
    import nibabel as nib

    from .template import fit_template

    files = paths.atlas_registration_files(arguments.output, arguments.subject, arguments.session)
    Path(arguments.output).mkdir(parents=True, exist_ok=True)
    settings = json.loads(arguments.settings)
    fit = fit_template(
        arguments.t1w,
        arguments.template,
        arguments.brain_mask,
        settings,
        files["warp"],
        files["affine"],
        arguments.threads,
    )
    mask = nib.Nifti1Image(fit.brain_mask, nib.load(str(arguments.t1w)).affine)
    mask.header.set_xyzt_units("mm")
    nib.save(mask, files["brain_mask"])
    record = {
        "t1w": str(arguments.t1w),
        "template": str(arguments.template),
        "brain_mask": arguments.brain_mask,
        "settings": settings,
        **fit.measures,
    }
    files["measures"].write_text(json.dumps(record, indent=2) + "\n")


def record_fault(arguments: argparse.Namespace, err: InputError) -> None:
    files = paths.atlas_registration_files(arguments.output, arguments.subject, arguments.session)
    write_fault(files["errors"], arguments.subject, arguments.session, err)


def run(arguments: argparse.Namespace) -> None:
    keep_going(
        lambda: register(arguments),
        arguments.output,
        lambda err: record_fault(arguments, err),
        "subject",
    )


def main(argv=None) -> None:
    arguments = parse_arguments(argv)
    run_logged(arguments.log, RULE, lambda: run(arguments))


if __name__ == "__main__":
    main()
