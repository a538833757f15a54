"""QC mosaics drawn with numpy and written as palette PNGs: cheap enough to run once per subject.

Each row is one session: its T1w in grey (or, without a T1w, the labelled voxels in grey on
black) with every region's outline in colour, in axial, coronal and sagittal slices through the
centre of the labelled voxels. matplotlib would cost ~2 s per subject here (imports and contour
tracing), and Pillow's import more than the drawing (png.py). The canvas is composed as palette indices (240
greys, the region colours, white) and saved as a palette PNG: a third of the bytes of RGB to
compress, the mosaic's largest cost.
"""

from __future__ import annotations

import numpy as np

from .images import read_image
from .png import draw_text, write_palette_png

# matplotlib's tab10 colours, so outlines match the other figures
PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip
PANEL = 200  # pixels per slice panel
HEADER = 16  # pixels of text above each row
# Palette indices: 0..GREYS-1 grey levels from black to white, then the region colours, then
# white for the page.
GREYS = 240
FIRST_COLOUR = GREYS
WHITE = GREYS + len(PALETTE)
BLACK = 0
# Above this many voxels the centre is found from every second voxel along each axis: within a
# voxel of the exact centre, at an eighth of the cost (the mosaic is a preview).
EXACT_CENTRE_VOXELS = 1 << 21


def labelled_centre(labels: np.ndarray, step: int = 1) -> list[int]:
    """Voxel indices of the centre of mass of the non-zero voxels (the grid centre if none),
    from every ``step``-th voxel along each axis.

    From per-axis voxel counts of one mask, summed over the volume's memory order in two passes:
    ~30× faster than ``np.nonzero`` on a 256³ map, which would build three index arrays as long
    as the brain.
    """
    if step > 1:
        sample = labels[::step, ::step, ::step]  # sampled voxel i is voxel i·step
        if not sample.any():
            return [n // 2 for n in labels.shape]
        return [c * step for c in labelled_centre(sample)]
    nx, ny, nz = labels.shape
    # a Fortran-ordered volume as (x·y, z) columns; other orders are copied once
    mask = np.asfortranarray(labels != 0).view(np.uint8).reshape(nx * ny, nz, order="F")
    counts_z = mask.sum(axis=0, dtype=np.int64)
    counts_xy = mask.sum(axis=1, dtype=np.int64).reshape(nx, ny, order="F")
    profiles = [counts_xy.sum(axis=1), counts_xy.sum(axis=0), counts_z]
    total = int(counts_z.sum())
    if total == 0:
        return [n // 2 for n in labels.shape]
    return [int(np.dot(profile, np.arange(profile.size)) // total) for profile in profiles]


def centre_slices(labels: np.ndarray) -> list[np.ndarray]:
    """Axial, coronal and sagittal slices (voxel axes) through the centre of the labelled voxels."""
    return slices_at(labels, labelled_centre(labels))


def slices_at(volume: np.ndarray, centre: list[int]) -> list[np.ndarray]:
    """Axial, coronal and sagittal slices of ``volume`` through voxel ``centre``, displayed
    with the first voxel axis left-right and the last one bottom-up."""
    planes = [
        volume[:, :, centre[2]].T[::-1],
        volume[:, centre[1], :].T[::-1],
        volume[centre[0], :, :].T[::-1],
    ]
    return [np.ascontiguousarray(plane) for plane in planes]  # copies: the volume can be freed


def outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (outside the slice counts as outside)."""
    inner = np.zeros_like(mask)
    inner[1:-1, 1:-1] = mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:] & mask[1:-1, 1:-1]
    return mask & ~inner


def grey_levels(planes: list[np.ndarray]) -> list[np.ndarray]:
    """Intensity planes (a T1w) scaled to 0-255 grey, saturating at the 99th percentile of the
    non-zero voxels so that a few bright vessels do not darken the brain."""
    values = np.concatenate([plane[plane > 0].ravel() for plane in planes] or [np.zeros(0)])
    top = float(np.percentile(values, 99)) if values.size else 0.0
    scale = 255.0 / top if top > 0 else 0.0
    return [np.clip(plane.astype(np.float32) * scale, 0, 255).astype(np.uint8) for plane in planes]


def palette() -> list[tuple[int, int, int]]:
    """The mosaic's palette: the (r, g, b) of every index."""
    greys = [round(k * 255 / (GREYS - 1)) for k in range(GREYS)]
    return [(g, g, g) for g in greys] + PALETTE + [(255, 255, 255)]


def grey_indices(grey: np.ndarray) -> np.ndarray:
    """0-255 grey levels as the nearest of the palette's greys."""
    return ((grey.astype(np.uint16) * (GREYS - 1) + 127) // 255).astype(np.uint8)


def resized(indices: np.ndarray, size: int = PANEL) -> np.ndarray:
    """Nearest-neighbour resize so that the longer side is ``size`` pixels."""
    height, width = indices.shape
    scale = size / max(height, width)
    rows = np.minimum((np.arange(max(1, round(height * scale))) + 0.5) / scale, height - 1).astype(int)
    cols = np.minimum((np.arange(max(1, round(width * scale))) + 0.5) / scale, width - 1).astype(int)
    return indices[np.ix_(rows, cols)]


def panel(plane: np.ndarray, regions: dict[str, tuple[int, ...]], background=None) -> np.ndarray:
    """One slice as palette indices, ``PANEL`` pixels on its longer side: the T1w in grey (or
    labelled voxels in grey when there is no T1w), each region's outline in its colour."""
    grey = background if background is not None else np.where(plane > 0, 150, 0).astype(np.uint8)
    indices = grey_indices(grey)
    # integer labels (validated when counted) for isin's lookup table, ~10× faster than sorting
    labels = plane.astype(np.int64, copy=False).clip(0)
    for i, codes in enumerate(regions.values()):
        indices[outline(np.isin(labels, codes, kind="table"))] = FIRST_COLOUR + i % len(PALETTE)
    return resized(indices)


def session_row(subject: str, session: str, labels: np.ndarray, t1w: np.ndarray | None = None) -> tuple:
    """A mosaic row: the three slices through the labelled centre of ``labels`` (3D) and, when
    a T1w on the same grid is given, the same slices of it as the background."""
    centre = labelled_centre(labels, step=1 if labels.size <= EXACT_CENTRE_VOXELS else 2)
    background = grey_levels(slices_at(t1w, centre)) if t1w is not None else None
    return subject, session, slices_at(labels, centre), background


def qc_mosaic(
    sessions: list[tuple], regions: dict[str, tuple[int, ...]], path, title="", read=read_image
) -> None:
    """Write a PNG: one row per (subject, session, label image path[, T1w path or None]);
    ``read`` turns the image entry into a StoredImage (tissue maps: their dominant tissue)."""
    rows = []
    for subject, session, image_path, *t1w_path in sessions:
        image = read(image_path)
        t1w = None
        if t1w_path and t1w_path[0]:
            t1w_image = read_image(t1w_path[0])
            if t1w_image.shape == image.shape:
                t1w = t1w_image.voxels.reshape(t1w_image.shape, order="F")
        rows.append(session_row(subject, session, image.voxels.reshape(image.shape, order="F"), t1w))
    draw_mosaic(rows, regions, path, title)


def draw_mosaic(rows, regions: dict[str, tuple[int, ...]], path, title="") -> None:
    """Write a PNG: one row per (subject, session, three label slices, three grey T1w slices
    or None), a legend, an optional title."""
    top = HEADER if title else 0
    legend = HEADER * ((len(regions) + 3) // 4)
    height = top + max(len(rows), 1) * (PANEL + HEADER) + legend
    canvas = np.full((height, 3 * PANEL + 20), WHITE, dtype=np.uint8)
    for row, (_, _, planes, backgrounds) in enumerate(rows):
        y = top + row * (PANEL + HEADER) + HEADER
        for column, plane in enumerate(planes):
            background = backgrounds[column] if backgrounds is not None else None
            indices = panel(plane, regions, background)
            x = column * (PANEL + 10)
            canvas[y : y + indices.shape[0], x : x + indices.shape[1]] = indices
    if title:
        draw_text(canvas, 4, 4, title, BLACK)
    if not rows:
        draw_text(canvas, 4, top + 4, "no sessions to show", BLACK)
    for row, (subject, session, _, _) in enumerate(rows):
        draw_text(canvas, 4, top + row * (PANEL + HEADER) + 4, f"{subject} {session}", BLACK)
    y = height - legend
    for i, name in enumerate(regions):
        x, line = (i % 4) * 150 + 4, y + (i // 4) * HEADER
        canvas[line + 4 : line + 13, x : x + 13] = FIRST_COLOUR + i % len(PALETTE)
        draw_text(canvas, x + 16, line + 4, name, BLACK)
    write_palette_png(path, canvas, palette())
