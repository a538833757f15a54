# Configuration, input discovery and path helpers. Everything here runs at parse time (and
# again in every cluster job): it lists directories but never opens an image.
import functools
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

# The one place the workflow's own package is put on a path: parsing imports it (below) even
# where it is not installed (--lint, a dry run), and Snakemake's script preamble appends this
# process's sys.path to every script's, so scripts under any interpreter (envs/atrophy.yaml's
# too) find it with no path code of their own. Subject jobs get it as a param
# (rules/subjects.smk).
PACKAGE_ROOT = str(Path(workflow.basedir) / "src")
sys.path.insert(0, PACKAGE_ROOT)
# Jobs run `python`: under --sdm conda or apptainer the environment's own; otherwise the one
# running Snakemake, put first on PATH (a `python` found later may be another, or a pyenv shim
# that costs a tenth of a second per job).
if not {DeploymentMethod.CONDA, DeploymentMethod.APPTAINER} & set(
    workflow.deployment_settings.deployment_method
):
    os.environ.update(
        PATH=os.pathsep.join(
            [os.path.dirname(sys.executable), os.environ.get("PATH", "")]
        )
    )

from brain_atrophy import paths  # noqa: E402
from brain_atrophy.inputs.discovery import (  # noqa: E402
    all_images,
    discover,
    image_names,
    measured_sessions,
    session_metadata,
)

# atlas_registration measures change from the images (its follow-ups have no labels): the
# measure is jacobian, and asking for label counting with it is a contradiction
if config.get("atlas_registration"):
    if config.get("change_measure", "jacobian") != "jacobian":
        raise ValueError(
            "config 'atlas_registration' carries labels onto each subject's baseline only: "
            "change_measure must be jacobian (or left out)"
        )
    config["change_measure"] = "jacobian"
validate(config, "../schemas/config.schema.yaml")
ATLAS_REGISTRATION = config.get("atlas_registration")
for key in ("template", "labels", "label_table", "brain_mask"):
    if ATLAS_REGISTRATION and key in ATLAS_REGISTRATION:
        if not Path(ATLAS_REGISTRATION[key]).is_file():
            raise ValueError(
                f"config 'atlas_registration': {key} '{ATLAS_REGISTRATION[key]}' not found"
            )
if config.get("segmentation_pattern") and not config.get("segmentation_dir"):
    # the pattern's fixed leading folders are the segmentation dataset (its dseg.tsv, and the
    # source named in dataset_description.json)
    config["segmentation_dir"] = os.path.dirname(
        config["segmentation_pattern"].split("{")[0].split("*")[0]
    )


OUT = config["output_dir"].rstrip("/")
BIDS_DIR = config["bids_dir"].rstrip("/")
PRESETS_DIR = Path(workflow.basedir) / "config" / "regions"


def region_table_path(choice):
    """A preset name ('freesurfer') maps to config/regions/<name>.tsv; anything else is a path."""
    if Path(choice).name == choice and not choice.endswith(".tsv"):
        preset = PRESETS_DIR / f"{choice}.tsv"
        if not preset.is_file():
            known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.tsv")))
            raise ValueError(
                f"config 'regions': no preset '{choice}' (presets: {known}; or give a TSV path)"
            )
        return str(preset)
    if not Path(choice).is_file():
        raise ValueError(f"config 'regions': region table '{choice}' not found")
    return choice


REGION_TABLE = region_table_path(config["regions"])


def label_table_path():
    """The BIDS dseg.tsv that names labels: config 'label_table', else segmentation_dir/dseg.tsv."""
    if ATLAS_REGISTRATION:
        return ATLAS_REGISTRATION.get("label_table")
    if config.get("label_table"):
        if not Path(config["label_table"]).is_file():
            raise ValueError(
                f"config 'label_table': '{config['label_table']}' not found"
            )
        return config["label_table"]
    default = Path(config["segmentation_dir"]) / "dseg.tsv"
    return str(default) if default.is_file() else None


LABEL_TABLE = label_table_path()


def region_inputs(wildcards):
    """The region table, and the label lookup table when regions name their labels."""
    inputs = {"regions": REGION_TABLE}
    if LABEL_TABLE:
        inputs["label_table"] = LABEL_TABLE
    return inputs


# The label images (or, in tissue-map mode, each session's {tissue: probability map}) and,
# where the segmentation dataset has them on the same grid, the T1w images they were
# segmented from (the QC mosaics outline the regions on them).
TISSUES = list(config["tissue_maps"])
ATLAS = config.get("atlas")
if ATLAS and not Path(ATLAS).is_file():
    raise ValueError(f"config 'atlas': '{ATLAS}' not found")
CHANGE_MEASURE = config["change_measure"]
if CHANGE_MEASURE == "jacobian" and config["tissue_maps"]:
    raise ValueError(
        "config 'change_measure: jacobian' integrates over the baseline's label image; "
        "tissue-map mode ('tissue_maps') measures each session by its own maps: use one or the other"
    )
DISCOVERED = discover(config)
LABEL_IMAGES, T1W_IMAGES = DISCOVERED
# {subject: sessions in order}; the first is the baseline (change_measure: jacobian)
SESSIONS = measured_sessions(DISCOVERED, CHANGE_MEASURE)
SUBJECTS = sorted(SESSIONS)
if not SUBJECTS:
    # not an error at parse time: --lint and --help must work before any data exists;
    # the group job stops with this message instead
    logger.warning(
        f"brain-atrophy: no images found under {config.get('segmentation_dir') or config['bids_dir']}"
    )


wildcard_constraints:
    subject="[a-zA-Z0-9]+",
    session="[a-zA-Z0-9]+",


onstart:
    # Under --keep-going a subject with a bad input is recorded and left out (the group step
    # lists it and a final check fails the run); otherwise its job fails at once. The choice
    # reaches the jobs through the environment, not as a parameter, so switching it never
    # reruns finished jobs; setdefault keeps the submitting process's choice in cluster jobs.
    os.environ.setdefault(
        "BRAIN_ATROPHY_KEEP_GOING",
        "1" if workflow.execution_settings.keep_going else "0",
    )


def subject_session_labels(wildcards):
    return SESSIONS[wildcards.subject]


def subject_image_keys(wildcards):
    """(session, tissue) of each of the subject's images, in input order; the tissue is ''
    for a label image."""
    sessions = LABEL_IMAGES.get(wildcards.subject, {})
    if not TISSUES:
        return [(s, "") for s in subject_session_labels(wildcards) if s in sessions]
    return [
        (s, t)
        for s in subject_session_labels(wildcards)
        for t in TISSUES
        if t in sessions[s]
    ]


def subject_images(wildcards):
    sessions = LABEL_IMAGES.get(wildcards.subject, {})
    return [
        sessions[s][t] if t else sessions[s] for s, t in subject_image_keys(wildcards)
    ]


def atlas_input(wildcards):
    return {"atlas": ATLAS} if ATLAS else {}


def subject_t1w_sessions(wildcards):
    """The subject's sessions that have a T1w beside their label image."""
    t1w = T1W_IMAGES.get(wildcards.subject, {})
    return [s for s in subject_session_labels(wildcards) if s in t1w]


def subject_t1w_images(wildcards):
    t1w = T1W_IMAGES.get(wildcards.subject, {})
    return [t1w[s] for s in subject_t1w_sessions(wildcards)]


def subject_follow_ups(wildcards):
    """change_measure: jacobian: the follow-ups to register to the baseline, when the baseline
    has a T1w and labels (without them the subject job reports what is missing)."""
    if CHANGE_MEASURE != "jacobian":
        return []
    baseline, *follow_ups = subject_session_labels(wildcards)
    t1w = T1W_IMAGES.get(wildcards.subject, {})
    labelled = ATLAS_REGISTRATION or baseline in LABEL_IMAGES.get(wildcards.subject, {})
    if baseline not in t1w or not labelled:
        return []
    return [s for s in follow_ups if s in t1w]


def atlas_registration_inputs(wildcards):
    """atlas_registration: the template's registration to the subject's baseline (when the
    baseline has a T1w), the atlas labels and the template they lie on."""
    if not ATLAS_REGISTRATION:
        return {}
    baseline = subject_session_labels(wildcards)[0]
    if baseline not in T1W_IMAGES.get(wildcards.subject, {}):
        return {}
    return {
        "atlas_registration": paths.atlas_registration_output(OUT, wildcards.subject),
        "atlas_labels": ATLAS_REGISTRATION["labels"],
        "template": ATLAS_REGISTRATION["template"],
    }


def subject_inputs(wildcards):
    """The subject job's inputs: the region table (and label lookup table, atlas), its label
    images (or tissue maps), its T1w images and its follow-ups' registrations."""
    return {
        **region_inputs(wildcards),
        **atlas_input(wildcards),
        **atlas_registration_inputs(wildcards),
        "images": subject_images(wildcards),
        "t1w": subject_t1w_images(wildcards),
        "registrations": [
            paths.registration_output(OUT, wildcards.subject, s)
            for s in subject_follow_ups(wildcards)
        ],
    }


def pair_inputs(wildcards):
    """A follow-up's registration job: the baseline's T1w and labels (atlas_registration: the
    template job's folder), the follow-up's T1w."""
    baseline = subject_session_labels(wildcards)[0]
    return {
        "baseline_t1w": T1W_IMAGES[wildcards.subject][baseline],
        "labels": (
            paths.atlas_registration_output(OUT, wildcards.subject)
            if ATLAS_REGISTRATION
            else LABEL_IMAGES[wildcards.subject][baseline]
        ),
        "followup_t1w": T1W_IMAGES[wildcards.subject][wildcards.session],
    }


def pair_mask_image(wildcards, input):
    """The image whose nonzero voxels are a pair's brain: the baseline's labels, or with
    atlas_registration the template's brain mask on the baseline (so that a new atlas
    re-registers no pair)."""
    if not ATLAS_REGISTRATION:
        return input.labels
    baseline = subject_session_labels(wildcards)[0]
    files = paths.atlas_registration_files(input.labels, wildcards.subject, baseline)
    return str(files["brain_mask"])


def template_inputs(wildcards):
    """A subject's template registration job: its baseline T1w, the template and its mask."""
    baseline = subject_session_labels(wildcards)[0]
    inputs = {
        "t1w": T1W_IMAGES[wildcards.subject][baseline],
        "template": ATLAS_REGISTRATION["template"],
    }
    if ATLAS_REGISTRATION.get("brain_mask"):
        inputs["brain_mask"] = ATLAS_REGISTRATION["brain_mask"]
    return inputs


# what decides a registration: changing one re-registers every pair (threads and resources
# are not among them)
REGISTRATION_SETTINGS = {
    key: value
    for key, value in config["registration"].items()
    if key not in ("threads", "mem_mb", "runtime")
}
# … and the template's: changing one re-registers every subject's template; the atlas files,
# the label interpolation (the subject job's) and resources are not among them
TEMPLATE_SETTINGS = {
    key: value
    for key, value in (ATLAS_REGISTRATION or {}).items()
    if key in ("iterations", "metric", "mask_dilation_mm")
}


def subject_job_arguments(wildcards, input):
    """The subject job's command-line arguments, shell-quoted: every image with its session
    (and tissue), from the job's inputs (see brain_atrophy.measure.job)."""
    arguments = ["--subject", wildcards.subject, "--regions", input.regions]
    if "label_table" in input.keys():
        arguments += ["--label-table", input.label_table]
    if "atlas" in input.keys():
        arguments += ["--atlas", input.atlas]
    keys = subject_image_keys(wildcards)
    for tissue in TISSUES:
        arguments += ["--tissue", tissue]
    for (session, tissue), path in zip(keys, input.images, strict=True):
        arguments += (
            ["--tissue-map", session, tissue, path]
            if tissue
            else ["--image", session, path]
        )
    for session, path in zip(subject_t1w_sessions(wildcards), input.t1w, strict=True):
        arguments += ["--t1w", session, path]
    if CHANGE_MEASURE == "jacobian":
        arguments += ["--jacobian", *subject_session_labels(wildcards)]
        arguments += ["--qc", json.dumps(config["qc"], sort_keys=True)]
        if "atlas_registration" in input.keys():
            arguments += ["--atlas-registration", input.atlas_registration]
            arguments += ["--atlas-labels", input.atlas_labels]
            arguments += ["--template", input.template]
            arguments += [
                "--label-interpolation",
                ATLAS_REGISTRATION["label_interpolation"],
            ]
        follow_ups = subject_follow_ups(wildcards)
        for session, path in zip(follow_ups, input.registrations, strict=True):
            arguments += ["--registration", session, path]
    return shlex.join(arguments)


def session_images():
    """{subject: {session: the image its volumes come from}}: the label image, or under
    change_measure: jacobian the T1w (its name carries the acquisition's entities)."""
    primary = T1W_IMAGES if CHANGE_MEASURE == "jacobian" else LABEL_IMAGES
    return {
        subject: {
            s: primary.get(subject, {}).get(s) or LABEL_IMAGES[subject][s]
            for s in sessions
        }
        for subject, sessions in SESSIONS.items()
    }


@functools.cache
def metadata():
    """Where each session's time and acquisition are kept (sessions.tsv, scans.tsv, T1w
    sidecars): read by the group job only, so correcting a date never re-measures an image.
    """
    return session_metadata(BIDS_DIR, SESSIONS)


def final_outputs():
    return [
        *rules.dataset_description.output,
        *rules.group_statistics.output,
        *rules.figures.output,
        *rules.quality_control.output,
        *rules.qc_flagged.output,
        *rules.methods.output,
        *rules.check_inputs.output,
        *rules.summary_report.output,
    ]
