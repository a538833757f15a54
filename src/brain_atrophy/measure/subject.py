"""One subject's work: every session's region volumes and the subject's QC mosaic.

This runs once per subject and its import cost is paid per job: on plain NIfTI only numpy
and isal are imported (nibabel only for MGZ, an unusual header or an atlas to resample).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .. import paths
from ..errors import InputError
from ..inputs.regions import load_regions
from ..tables import write_rows
from .images import describe_grid, read_image, same_grid
from .mosaic import draw_mosaic, session_row
from .tissue import session_tissue_volumes
from .volumes import label_counts, region_voxel_counts

log = logging.getLogger(__name__)

# method: how the volume was measured, "labels" (counting a segmentation's labels or tissue
# maps) or "jacobian" (Jacobian integration of a registration to the baseline)
LABELS, JACOBIAN = "labels", "jacobian"
SESSION_COLUMNS = ["region", "method", "volume_mm3", "n_voxels", "labelled_mm3", "voxel_mm3"]
# The subject's volume table: every session's regions. Times are joined at the group level
# (from sessions.tsv / scans.tsv), so correcting a date never re-measures an image.
VOLUME_COLUMNS = ["participant_id", "session_id", *SESSION_COLUMNS]


def session_volumes(image_path, regions: dict[str, tuple[int, ...]], image=None) -> list[dict]:
    """Volume (mm³) and voxel count of every region in one label image, and the volume of all
    labelled voxels (``labelled_mm3``: the segmented intracranial volume when the segmenter
    labels CSF, as FreeSurfer and SynthSeg do — a head-size covariate), and the voxel volume
    (``voxel_mm3``: a change between sessions means a change of protocol, flagged in QC)."""
    image = image or read_image(image_path)
    label_totals = label_counts(image.voxels, image_path)
    counts = region_voxel_counts(label_totals, regions)
    voxel_mm3 = image.voxel_volume_mm3
    labelled = sum(label_totals.values()) * voxel_mm3
    return [
        {
            "region": name,
            "method": LABELS,
            "volume_mm3": n * voxel_mm3,
            "n_voxels": n,
            "labelled_mm3": labelled,
            "voxel_mm3": voxel_mm3,
        }
        for name, n in counts.items()
    ]


def record_error(subject_dir, subject: str, error) -> None:
    """Under --keep-going: the subject's directory holds only this record of what was wrong
    (no volumes), so the group step can leave the subject out and say why."""
    path = paths.subject_outputs(subject_dir, subject, [])["errors"]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_rows(
        path,
        ["participant_id", "file", "fault"],
        [{"participant_id": paths.participant_id(subject), "file": error.source, "fault": error.fault}],
    )


def read_t1w(path, label_image, label_path):
    """The session's T1w as a 3D array, which must share its label image's grid: a label image
    on another grid was not segmented from this T1w (wrong file, or a resampled output)."""
    t1w = read_image(path)
    if not same_grid(t1w, label_image):
        raise InputError(
            path,
            f"T1w grid ({describe_grid(t1w)}) differs from its label image {label_path} "
            f"({describe_grid(label_image)}): the segmentation was not made on this T1w",
        )
    return t1w.voxels.reshape(t1w.shape, order="F")


def process_subject(
    subject: str,
    images: dict,
    region_tsv,
    subject_dir,
    label_tsv=None,
    t1w_images: dict[str, str] | None = None,
    tissues: list[str] | None = None,
    atlas=None,
) -> None:
    """Measure every session of ``subject`` and write its per-session and volume tables, and
    its QC mosaic (on the session's T1w where ``t1w_images`` has one), sessions in the given
    order.

    ``images`` maps each session to its label image or, with ``tissues`` (tissue-map mode), to
    {tissue: probability map}; regions may then restrict tissues to the labels of ``atlas``.
    """
    if tissues:
        regions = load_regions(region_tsv, label_tsv, tissues)
        mosaic_regions = {tissue: (k + 1,) for k, tissue in enumerate(tissues)}
    else:
        regions = mosaic_regions = load_regions(region_tsv, label_tsv)
    t1w_images = t1w_images or {}
    outputs = paths.subject_outputs(subject_dir, subject, images)
    long_rows = []
    mosaic_rows = []
    atlas_cache: dict = {}
    for session in images:
        if tissues:
            missing = [t for t in tissues if t not in images[session]]
            if missing:
                raise InputError(
                    Path(next(iter(images[session].values()))).parent,
                    f"{paths.session_id(session)} has no tissue map for {', '.join(missing)}",
                )
            rows, image = session_tissue_volumes(images[session], regions, atlas, atlas_cache)
            grid_path = images[session][tissues[0]]
        else:
            image = read_image(images[session])
            rows = session_volumes(images[session], regions, image)
            grid_path = images[session]
        t1w = read_t1w(t1w_images[session], image, grid_path) if session in t1w_images else None
        # the QC mosaic needs only three slices: keep those, not the volumes
        labels = image.voxels.reshape(image.shape, order="F")
        ids = {"participant_id": paths.participant_id(subject), "session_id": paths.session_id(session)}
        mosaic_rows.append(session_row(ids["participant_id"], ids["session_id"], labels, t1w))
        log.info("%s %s: %s%s", *ids.values(), grid_path, " + T1w" if t1w is not None else "")
        write_rows(outputs["sessions"][session], SESSION_COLUMNS, rows)
        for row in rows:
            long_rows.append({**ids, **row})
    write_rows(outputs["volumes"], VOLUME_COLUMNS, long_rows)
    outputs["mosaic"].parent.mkdir(parents=True, exist_ok=True)
    draw_mosaic(mosaic_rows, mosaic_regions, outputs["mosaic"])
