"""Longitudinal T1w images with planted, computed truth, for registration-based change measurement.

A subject is the brain-extracted 0.5 mm T1 template of the ``deepmriprep==0.3.0`` wheel and the
IBSR label atlas of the same wheel (same world space, FreeSurfer codes), both pulled through the
subject's own map: a small random affine and a smooth random displacement (a different head). A
follow-up deforms the subject's anatomy by a known smooth map phi that contracts chosen regions
around their centroids. The truth is computed, never taken from a method under test: each
region's relative change is the mean of det(grad phi) over the region's voxels of the subject's
1 mm anatomy grid, with grad phi the exact derivative (at those voxels) of the cubic B-spline
field the follow-up images were resampled with. Every session, baseline included, is a new rigid
position of the head in the scanner with its own bias field and Rician noise, and is resampled
once from the template through one composed map:

    scanner x --pose--> anatomy a --psi = phi^-1 (follow-ups)--> a' --subject map w--> template

    python -m brain_atrophy_demo.deform OUT_DIR [--voxel-mm 3] [--groups HC=6,MS=6]
        [--weeks 0,48,96] [--followup-labels] [--seed 0] [--cache .cache]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np
from scipy import ndimage

from brain_atrophy import paths
from brain_atrophy.inputs.regions import load_regions
from brain_atrophy.tables import write_rows

from .atlas import BRAIN_MASK
from .atlas import SCALE as ATLAS_SCALE
from .atlas import install as install_atlas
from .demo import (
    ATLAS_MEMBER,
    ATLAS_SHA256,
    ATLAS_WHEEL,
    TEMPLATE_MEMBER,
    TEMPLATE_SHA256,
    fetch_member,
    study_folders,
)
from .head import HEAD_WHEEL

REGION_TABLE = Path(__file__).resolve().parents[2] / "config" / "regions" / "freesurfer.tsv"
DEFAULT_GROUPS = {"HC": 6, "MS": 6}
DEFAULT_WEEKS = (0, 48, 96)
# Planted population rates (%/yr of volume, log-linear): of the order reported for healthy ageing
# and for MS (thalamus fastest). Regions not listed change only as the contractions' surroundings do.
DEFAULT_RATES = {
    "HC": {"thalamus": -0.5, "cerebellum": -0.3},
    "MS": {"thalamus": -2.0, "cerebellum": -1.0},
}
RATE_SD = 0.15  # between-subject SD of the annual slope of 100·ln(volume), %/yr
GROUP_NAMES = {"HC": "healthy controls", "MS": "multiple sclerosis"}

SUBJECT_DEGREES, SUBJECT_SCALE, SUBJECT_MM = 4.0, 0.05, 4.0  # subject affine: uniform within ± these
WARP_MM = 3.0  # peak of each component of the subject's smooth displacement
WARP_WAVELENGTH_MM = (80.0, 200.0)
WARP_MODES = 6
MAX_WARP_GRADIENT = 0.3  # bound on |grad| of that displacement (< 1 keeps the map diffeomorphic)
POSE_DEGREES, POSE_MM = 4.0, 5.0  # each session's head position in the scanner
ANATOMY_MM = 1.0  # the subject's anatomy grid, on which the truth is integrated
SIGMA_MM = 2.0  # how fast a contraction's weight decays outside its region
MIN_COMPONENT = 0.05  # a region's parts smaller than this share get no contraction centre of their own
CALIBRATION_TOLERANCE = 1e-5  # |true change - requested| at which the contraction is strong enough
SNR = 30.0  # white-matter signal / noise SD
BIAS_PEAK = (0.10, 0.15)  # largest multiplicative bias in the image, drawn per session
BIAS_WAVELENGTH_MM = (200.0, 400.0)
WM_LEVEL = 0.93  # the template's white-matter intensity (its values run 0 to 1)
SCALE = 1000.0  # stored intensity of template value 1
MARGIN_MM = 6.0  # image grid margin around the head
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))
FLIP_FRACTION = 0.006  # segmentation noise: boundary voxels relabelled, a share of the labelled voxels
SLAB_POINTS = 1_000_000  # points resampled at once (bounds memory at 1 mm)


# ---------------------------------------------------------------- random smooth maps


def rotation(radians) -> np.ndarray:
    """The 3×3 rotation by ``radians`` about x, then y, then z."""
    ax, ay, az = radians
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) points through a 4×4 affine."""
    return points @ affine[:3, :3].T + affine[:3, 3]


class Modes(NamedTuple):
    """A smooth random field: the sum over k of amplitude[k] · cos(2π frequency[k]·x + phase[k])."""

    frequency: np.ndarray  # (K, 3), cycles per mm
    phase: np.ndarray  # (K,)
    amplitude: np.ndarray  # (K, C): C components (3 for a displacement, 1 for a bias field)


def random_modes(rng, n: int, components: int, wavelength_mm, peak: float) -> Modes:
    """``n`` plane waves of random direction and wavelength; each component's amplitudes sum (in
    absolute value) to ``peak``, so no component ever exceeds it."""
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    wavelength = rng.uniform(*wavelength_mm, size=n)
    amplitude = rng.normal(size=(n, components))
    amplitude *= peak / np.abs(amplitude).sum(axis=0)
    return Modes(direction / wavelength[:, None], rng.uniform(0, 2 * math.pi, n), amplitude)


def evaluate_modes(modes: Modes, points: np.ndarray) -> np.ndarray:
    """The field at (N, 3) points: (N, C)."""
    return np.cos(2 * math.pi * points @ modes.frequency.T + modes.phase) @ modes.amplitude


def evaluate_modes_on_grid(modes: Modes, affine: np.ndarray, shape, start: int, stop: int) -> np.ndarray:
    """``evaluate_modes`` at ``grid_points(affine, shape, start, stop)``, axis by axis: a grid
    point is an affine function of its voxel indices, so each wave's phase is a(i, j) + b(k), and
    cos(a + b) = cos a cos b - sin a sin b makes every component one small matrix product (far
    cheaper than a cosine per point and wave)."""
    step = 2 * math.pi * modes.frequency @ affine[:3, :3]  # (K, 3): phase per voxel along each axis
    offset = 2 * math.pi * modes.frequency @ affine[:3, 3] + modes.phase
    i, j, k = np.arange(shape[0]), np.arange(shape[1]), np.arange(start, stop)
    a = offset + i[:, None, None] * step[:, 0] + j[None, :, None] * step[:, 1]  # (I, J, K)
    b = k[:, None] * step[:, 2]  # (slices, K)
    left = np.concatenate([np.cos(a), -np.sin(a)], axis=-1).reshape(-1, 2 * len(offset))
    right = np.concatenate([np.cos(b), np.sin(b)], axis=-1)
    amplitude = np.concatenate([modes.amplitude, modes.amplitude])  # (2K, C)
    field = np.stack([(left * amplitude[:, c]) @ right.T for c in range(amplitude.shape[1])], axis=-1)
    return field.reshape(-1, amplitude.shape[1])


def gradient_bound(modes: Modes) -> float:
    """An upper bound, anywhere, of the spectral norm of a displacement's gradient (Frobenius norm
    of the entrywise bounds |d u_i / d x_j| <= sum_k |a_ki| 2π |f_kj|)."""
    entries = 2 * math.pi * np.abs(modes.amplitude).T @ np.abs(modes.frequency)
    return float(np.sqrt((entries**2).sum()))


class SubjectMap(NamedTuple):
    """A subject's anatomy as the template pulled back: the anatomy point a shows the template at
    z + warp(z), z = affine·a (all mm). Diffeomorphic: |grad warp| <= MAX_WARP_GRADIENT."""

    affine: np.ndarray  # 4×4, anatomy → template: rotation, scaling and translation
    warp: Modes  # smooth displacement in template space


def random_subject(rng, centre) -> SubjectMap:
    """A different head: a few degrees of rotation, ±5 % scaling and a few mm of translation about
    the brain's ``centre``, then a smooth displacement of at most WARP_MM."""
    linear = rotation(np.radians(rng.uniform(-SUBJECT_DEGREES, SUBJECT_DEGREES, 3))) @ np.diag(
        1 + rng.uniform(-SUBJECT_SCALE, SUBJECT_SCALE, 3)
    )
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = centre + rng.uniform(-SUBJECT_MM, SUBJECT_MM, 3) - linear @ centre
    warp = random_modes(rng, WARP_MODES, 3, WARP_WAVELENGTH_MM, WARP_MM)
    bound = gradient_bound(warp)
    if bound > MAX_WARP_GRADIENT:  # a rare draw of short, aligned waves: made gentler
        warp = warp._replace(amplitude=warp.amplitude * MAX_WARP_GRADIENT / bound)
    return SubjectMap(affine, warp)


def to_template(subject: SubjectMap, points: np.ndarray) -> np.ndarray:
    """Anatomy points (N, 3) → the template points whose content they show."""
    z = apply_affine(subject.affine, points)
    return z + evaluate_modes(subject.warp, z)


def grid_to_template(subject: SubjectMap, affine: np.ndarray, shape, start: int, stop: int) -> np.ndarray:
    """``to_template(subject, grid_points(affine, shape, start, stop))``, axis by axis."""
    full = subject.affine @ affine  # voxel index → template point before the warp
    i, j, k = np.arange(shape[0]), np.arange(shape[1]), np.arange(start, stop)
    plane = full[:3, 3] + i[:, None, None] * full[:3, 0] + j[None, :, None] * full[:3, 1]  # (I, J, 3)
    z = plane[:, :, None, :] + k[:, None] * full[:3, 2]  # (I, J, slices, 3)
    return z.reshape(-1, 3) + evaluate_modes_on_grid(subject.warp, full, shape, start, stop)


def random_pose(rng, centre) -> np.ndarray:
    """A session's head position: 4×4 from scanner mm (origin at the head's centre, give or take
    POSE_MM) to anatomy mm, rotated by up to POSE_DEGREES about each axis."""
    pose = np.eye(4)
    pose[:3, :3] = rotation(np.radians(rng.uniform(-POSE_DEGREES, POSE_DEGREES, 3)))
    pose[:3, 3] = centre + rng.uniform(-POSE_MM, POSE_MM, 3)
    return pose


# ---------------------------------------------------------------- the template and the atlas


class Source(NamedTuple):
    """What every subject is made from: the template's path, the IBSR atlas and the region table."""

    template_path: str
    atlas: np.ndarray  # uint8 labels, 1 mm
    atlas_affine: np.ndarray
    regions: dict  # region → labels (config/regions/freesurfer.tsv)
    centre: np.ndarray  # centroid of the atlas's labelled voxels, mm
    brain_box: tuple  # (low, high) mm corners of the template's brain and the atlas's labels
    head: str | None = None  # the default head template (brain_atrophy_demo.atlas), or None
    head_box: tuple | None = None  # (low, high) mm corners of what the images show


def load_source(cache_dir, head: bool = False) -> Source:
    """The template and atlas (fetched from PyPI into ``cache_dir`` once, as demo.py does); with
    ``head``, the default head template too (installed into ``cache_dir``/atlas once), whose
    skull, scalp and neck the images then show around the brain."""
    template_path = fetch_member(cache_dir, TEMPLATE_MEMBER, TEMPLATE_SHA256)
    atlas_image = nib.load(fetch_member(cache_dir, ATLAS_MEMBER, ATLAS_SHA256))
    atlas = np.asarray(atlas_image.dataobj).astype(np.uint8)
    labelled = apply_affine(atlas_image.affine, np.argwhere(atlas > 0).astype(float))
    _, _, template_box = _template_crop(str(template_path))
    low = np.minimum(labelled.min(axis=0), template_box[0])
    high = np.maximum(labelled.max(axis=0), template_box[1])
    head_path, head_box = None, (low, high)
    if head:
        head_path = str(install_atlas(Path(cache_dir) / "atlas", cache_dir)["template"])
        _, _, head_box = _head_outside(head_path)
    return Source(
        str(template_path),
        atlas,
        atlas_image.affine,
        load_regions(REGION_TABLE),
        labelled.mean(axis=0),
        (low, high),
        head_path,
        head_box,
    )


@lru_cache(maxsize=1)
def _head_outside(path: str):
    """The head template outside its brain mask (0 to 1; the brain comes from the 0.5 mm template),
    its affine, and the head's (low, high) mm corners."""
    image = nib.load(path)
    mask = np.asarray(nib.load(Path(path).with_name(BRAIN_MASK)).dataobj) > 0
    data = np.where(mask, 0, image.get_fdata(dtype=np.float32) / ATLAS_SCALE).astype(np.float32)
    shown = np.argwhere(data > 0.02 * data.max()).astype(float)
    corners = apply_affine(image.affine, np.array([shown.min(axis=0), shown.max(axis=0)]))
    return data, image.affine, (np.minimum(*corners), np.maximum(*corners))


@lru_cache(maxsize=2)
def blurred_head(path: str, voxel_mm: float):
    """The head outside the brain as a ``voxel_mm`` scanner sees it (Gaussian PSF of FWHM
    sqrt(voxel_mm² − 1 mm²): the 1 mm head is already that sharp); (values, affine)."""
    data, affine, _ = _head_outside(path)
    zoom = float(np.linalg.norm(affine[:3, 0]))
    sigma = math.sqrt(max(voxel_mm**2 - zoom**2, 0.0)) / FWHM_PER_SIGMA / zoom
    return (ndimage.gaussian_filter(data, sigma, mode="constant") if sigma > 0 else data), affine


@lru_cache(maxsize=1)
def _template_crop(path: str):
    """The template's values (float32, 0 to 1) cropped to its brain with room for any blur, its
    affine, and the brain's (low, high) mm corners."""
    image = nib.load(path)
    data = image.get_fdata(dtype=np.float32)
    bounds = []
    for axis in range(3):  # the brain's extent along each axis, from projections (fast)
        filled = np.flatnonzero((data > 0).any(axis=tuple(a for a in range(3) if a != axis)))
        bounds.append((filled[0], filled[-1]))
    low, high = np.array(bounds).T
    corners = apply_affine(image.affine, np.array([low, high], float))
    box = (np.minimum(*corners), np.maximum(*corners))
    low, high = np.maximum(low - 16, 0), np.minimum(high + 17, data.shape)
    affine = image.affine.copy()
    affine[:3, 3] = apply_affine(image.affine, low[None].astype(float))[0]
    return np.ascontiguousarray(data[tuple(slice(a, b) for a, b in zip(low, high, strict=True))]), affine, box


@lru_cache(maxsize=2)
def blurred_template(path: str, voxel_mm: float):
    """The template as a scanner with ``voxel_mm`` voxels sees it: blurred by a Gaussian PSF of
    FWHM one voxel, kept at about half that spacing (a multiple of 0.5 mm; the blur leaves
    nothing finer). Returns (values, affine); computed once per process and voxel size."""
    data, affine, _ = _template_crop(path)
    zoom = float(np.linalg.norm(affine[:3, 0]))
    stride = max(1, int(voxel_mm / 2 / zoom + 1e-6))
    sigma = voxel_mm / FWHM_PER_SIGMA / zoom
    for axis in range(3):  # separable: blur an axis, then keep every stride-th sample along it
        data = ndimage.gaussian_filter1d(data, sigma, axis=axis, mode="constant")
        data = data[(slice(None),) * axis + (slice(None, None, stride),)]
    affine = affine.copy()
    affine[:3, :3] *= stride
    return np.ascontiguousarray(data), affine


def sample(volume: np.ndarray, affine: np.ndarray, points: np.ndarray, order: int) -> np.ndarray:
    """``volume`` at world points (N, 3): linear (order 1) or nearest (order 0); 0 outside."""
    index = apply_affine(np.linalg.inv(affine), points)
    return ndimage.map_coordinates(volume, index.T, order=order, mode="constant", cval=0, prefilter=False)


def grid_points(affine: np.ndarray, shape, start: int = 0, stop: int | None = None) -> np.ndarray:
    """World mm of the voxel centres of a grid, for the slices ``start:stop`` of its last axis."""
    stop = shape[2] if stop is None else stop
    i, j, k = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), np.arange(start, stop), indexing="ij")
    return apply_affine(affine, np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(float))


def slabs(shape):
    """(start, stop) ranges of the last axis holding about SLAB_POINTS voxels each."""
    step = max(1, SLAB_POINTS // (shape[0] * shape[1]))
    return [(k, min(k + step, shape[2])) for k in range(0, shape[2], step)]


# ---------------------------------------------------------------- the subject's anatomy


class Anatomy(NamedTuple):
    """A subject's labels on its anatomy grid (1 mm, axis-aligned): where the truth is integrated."""

    labels: np.ndarray  # uint8
    affine: np.ndarray  # anatomy voxel → anatomy mm
    head_box: tuple  # (low, high) mm corners of what the images show, in anatomy space


def subject_box(subject: SubjectMap, box) -> tuple:
    """A template box's (low, high) corners in the subject's anatomy space (grown by the warp's
    bound: the warp moves points by at most WARP_MM, and the inverse a little more, hence +1)."""
    corners = np.array(np.meshgrid(*zip(*box, strict=True), indexing="ij")).reshape(3, -1).T
    moved = apply_affine(np.linalg.inv(subject.affine), corners)
    return moved.min(axis=0) - WARP_MM - 1, moved.max(axis=0) + WARP_MM + 1


def subject_anatomy(source: Source, subject: SubjectMap) -> Anatomy:
    """The atlas pulled through the subject's map by nearest neighbour, on a grid covering it with
    room for every contraction's support."""
    head_box = subject_box(subject, source.brain_box)
    margin = 6 * SIGMA_MM + 4 * ANATOMY_MM
    low = np.floor(head_box[0] - margin)
    shape = tuple(int(n) for n in np.ceil((head_box[1] + margin - low) / ANATOMY_MM) + 1)
    affine = np.diag([ANATOMY_MM, ANATOMY_MM, ANATOMY_MM, 1.0])
    affine[:3, 3] = low
    labels = np.zeros(shape, np.uint8)
    # only the head box (and 2 mm) can show labels: the margin beyond it stays background
    first = np.floor((head_box[0] - 2 - low) / ANATOMY_MM).astype(int)
    inner = tuple(int(n) for n in np.ceil((head_box[1] + 2 - low) / ANATOMY_MM).astype(int) + 1 - first)
    inner_affine = affine.copy()
    inner_affine[:3, 3] = apply_affine(affine, first[None].astype(float))[0]
    view = labels[tuple(slice(a, a + n) for a, n in zip(first, inner, strict=True))]
    for start, stop in slabs(inner):
        points = grid_to_template(subject, inner_affine, inner, start, stop)
        values = sample(source.atlas, source.atlas_affine, points, order=0)
        view[..., start:stop] = values.reshape(inner[0], inner[1], stop - start)
    return Anatomy(labels, affine, subject_box(subject, source.head_box))


# ---------------------------------------------------------------- planted change


class Atrophy(NamedTuple):
    """A follow-up's forward map phi(a) = a + d(a) of the subject's anatomy (mm): the anatomy at
    a at baseline is at phi(a) at follow-up. d is the cubic B-spline with ``coefficients`` on the
    anatomy grid's 1 mm voxels within ``box`` (0 outside it)."""

    origin: np.ndarray  # anatomy mm of the box's first voxel
    box: tuple  # the box's slices of the anatomy grid
    coefficients: np.ndarray  # (3, *box shape), mm
    jacobian: np.ndarray  # det(grad phi) at the box's voxels
    strength: dict  # contraction factor alpha per requested region
    requested: dict  # requested fractional loss per requested region
    truth: dict  # region → true relative volume change


def resolve_shrink(shrink, regions: dict) -> dict:
    """{name: (labels, fraction)} from ``shrink``: a region of ``regions`` or a group of labels
    (named labels_a_b…) → fractional loss (negative: growth). Zero requests are dropped."""
    resolved = {}
    for key, fraction in (shrink or {}).items():
        if fraction == 0:
            continue
        if not -0.5 < fraction < 0.5:
            raise ValueError(f"shrink of {key}: {fraction} is not a fraction between -0.5 and 0.5")
        if isinstance(key, str):
            if key not in regions:
                raise ValueError(f"shrink: unknown region '{key}' (regions: {', '.join(regions)})")
            resolved[key] = (tuple(regions[key]), float(fraction))
        else:
            labels = tuple(sorted(int(label) for label in key))
            resolved["labels_" + "_".join(map(str, labels))] = (labels, float(fraction))
    return resolved


_VALUE = np.array([1 / 6, 2 / 3, 1 / 6])  # a cubic B-spline's weights at a node, from its coefficients
_SLOPE = np.array([-0.5, 0.0, 0.5])  # and of its derivative


def spline_gradient(coefficients: np.ndarray, spacing: float = 1.0) -> list[np.ndarray]:
    """The exact partial derivatives, at the grid nodes, of the cubic B-spline with these 3D
    coefficients (mirror extension, as ndimage's spline_filter and map_coordinates use)."""
    gradient = []
    for axis in range(3):
        part = coefficients
        for other in range(3):
            part = ndimage.correlate1d(part, _SLOPE if other == axis else _VALUE, axis=other, mode="mirror")
        gradient.append(part / spacing)
    return gradient


def spline_coefficients(displacement: np.ndarray) -> np.ndarray:
    """Cubic B-spline coefficients (3, …) interpolating a sampled displacement (3, …)."""
    return np.stack([ndimage.spline_filter(c, order=3, mode="mirror") for c in displacement])


def spline_gradients(coefficients: np.ndarray, spacing: float = 1.0) -> list[list[np.ndarray]]:
    """grad d at the nodes, ``a[i][j]`` = d d_i / d x_j, for the displacement d given by cubic
    B-spline coefficients (3, X, Y, Z) in mm on a grid of ``spacing`` mm whose axes are the world's."""
    return [spline_gradient(c, spacing) for c in coefficients]


def determinant(gradient: list[list[np.ndarray]]) -> np.ndarray:
    """det(I + grad d) from grad d (``spline_gradients``)."""
    a = [[g + 1 if i == j else g for j, g in enumerate(row)] for i, row in enumerate(gradient)]
    return (
        a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    )


def spline_jacobian(coefficients: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """det(I + grad d) at the nodes, for the displacement d given by cubic B-spline coefficients
    (3, X, Y, Z) in mm on a grid of ``spacing`` mm whose axes are the world's."""
    return determinant(spline_gradients(coefficients, spacing))


def jacobian_determinant(displacement: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """det(grad phi) at the nodes for phi(p) = p + d(p), d sampled (3, X, Y, Z) in mm on a grid
    of ``spacing`` mm and interpolated by a cubic B-spline (as the images are resampled)."""
    return spline_jacobian(spline_coefficients(np.asarray(displacement, float)), spacing)


def region_mask(labels: np.ndarray, group) -> np.ndarray:
    """Where ``labels`` is one of ``group`` (a lookup table for uint8 labels: faster than isin)."""
    if labels.dtype != np.uint8:
        return np.isin(labels, group)
    table = np.zeros(256, bool)
    table[[label for label in group if 0 <= label < 256]] = True
    return table[labels]


def region_changes(labels: np.ndarray, jacobian: np.ndarray, regions: dict, box=None) -> dict:
    """Each region's true relative volume change: the mean of det(grad phi) over its voxels,
    minus 1 (the voxel-sum form of the integral over the region). ``jacobian`` covers ``box`` of
    ``labels`` (all of it if None); it is 1 outside."""
    box = box or tuple(slice(0, n) for n in labels.shape)
    # per label: voxels, voxels in the box, and the Jacobian's sum there (one pass each, for
    # every region at once)
    size = int(max(labels.max(), *(max(group) for group in regions.values()))) + 1
    counts = np.bincount(labels.ravel(), minlength=size)
    in_box = labels[box].ravel()
    box_counts = np.bincount(in_box, minlength=size)
    box_sums = np.bincount(in_box, weights=jacobian.ravel(), minlength=size)
    changes = {}
    for name, group in regions.items():
        group = [label for label in group if label >= 0]
        total = int(counts[group].sum())
        if not total:
            raise ValueError(f"region {name}: no voxel carries its labels")
        outside = total - int(box_counts[group].sum())  # where the Jacobian is 1
        changes[name] = float((box_sums[group].sum() + outside) / total - 1)
    return changes


def contraction_field(labels: np.ndarray, group, box, origin, sigma: float = SIGMA_MM) -> np.ndarray:
    """-w(p) (p - c), summed over the region's parts (6-connected, each >= MIN_COMPONENT of it) with
    their centroids c, over the box (3, …) in mm: w is 1 on the part (its mask grown by 2 sigma,
    then blurred by sigma) and falls smoothly to exactly 0 a few sigma outside. Times alpha, it
    scales the part by 1 - alpha about c and stretches a shell around it to make room."""
    mask = region_mask(labels[box], group)
    parts, n = ndimage.label(mask)
    sizes = ndimage.sum_labels(mask, parts, range(1, n + 1))
    field = np.zeros((3, *mask.shape))
    reach = int(math.ceil(6 * sigma / ANATOMY_MM)) + 2  # growth (2σ) + Gaussian support (4σ)
    for part in np.flatnonzero(sizes >= MIN_COMPONENT * sizes.sum()) + 1:
        voxels = np.argwhere(parts == part)
        centroid = origin + voxels.mean(axis=0) * ANATOMY_MM
        low = np.maximum(voxels.min(axis=0) - reach, 0)
        high = np.minimum(voxels.max(axis=0) + reach + 1, mask.shape)
        sub = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
        grown = ndimage.distance_transform_edt(parts[sub] != part, sampling=ANATOMY_MM) <= 2 * sigma
        weight = ndimage.gaussian_filter(grown.astype(float), sigma / ANATOMY_MM, mode="constant", truncate=4)
        axes = np.meshgrid(*(np.arange(a, b) for a, b in zip(low, high, strict=True)), indexing="ij")
        for i in range(3):
            field[(i, *sub)] -= weight * (origin[i] + axes[i] * ANATOMY_MM - centroid[i])
    return field


def plan_atrophy(anatomy: Anatomy, shrink, regions: dict, iterations: int = 8, cache=None) -> Atrophy | None:
    """The smooth forward map that shrinks each requested region by its fraction, and the truth
    for every region of ``regions`` (and each requested label group). The contraction factors
    start from a uniform scaling's (1 - alpha)^3 = 1 - fraction and are refined until each
    requested region's computed change is within 1e-5 of the request; the truth stays what the
    integral gives. None when nothing is requested (the truth is then exactly 0). ``cache``: a
    dict kept per anatomy, reusing the contraction fields when the same regions are requested."""
    requests = resolve_shrink(shrink, regions)
    if not requests:
        return None
    key = tuple((name, labels) for name, (labels, _) in requests.items())
    fields = None if cache is None else cache.get(key)
    if fields is None:
        fields = contraction_fields(anatomy, requests)
        if cache is not None:
            cache[key] = fields
    return _calibrate(anatomy, requests, regions, *fields, iterations)


def contraction_fields(anatomy: Anatomy, requests: dict):
    """(box, origin, {name: spline coefficients of its contraction field}) for resolved requests:
    the box holds every requested region and the support of its field."""
    reach = int(math.ceil(6 * SIGMA_MM / ANATOMY_MM)) + 4
    wanted = region_mask(
        anatomy.labels, sorted({label for labels, _ in requests.values() for label in labels})
    )
    if not wanted.any():
        raise ValueError(f"shrink: none of {list(requests)} is in the subject's labels")
    voxels = np.argwhere(wanted)
    low = np.maximum(voxels.min(axis=0) - reach, 0)
    high = np.minimum(voxels.max(axis=0) + reach + 1, anatomy.labels.shape)
    box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    origin = apply_affine(anatomy.affine, low[None].astype(float))[0]
    # the field is linear in each region's factor: its spline coefficients and their gradient too
    bases = {
        name: spline_coefficients(contraction_field(anatomy.labels, labels, box, origin))
        for name, (labels, _) in requests.items()
    }
    # float32: 4 times faster, and its ~1e-7 relative error is far below anything measured
    gradients = {name: spline_gradients(b.astype(np.float32), ANATOMY_MM) for name, b in bases.items()}
    return box, origin, bases, gradients


def _calibrate(
    anatomy: Anatomy, requests: dict, regions: dict, box, origin, bases, gradients, iterations
) -> Atrophy:
    """The contraction factors that give each request, and the resulting map and truth."""
    alpha = {name: 1 - (1 - fraction) ** (1 / 3) for name, (_, fraction) in requests.items()}
    targets = {name: labels for name, (labels, _) in requests.items()}
    for iteration in range(iterations + 1):
        gradient = [
            [sum(np.float32(alpha[name]) * gradients[name][i][j] for name in bases) for j in range(3)]
            for i in range(3)
        ]
        jacobian = determinant(gradient)
        achieved = region_changes(anatomy.labels[box], jacobian, targets)  # the box holds them whole
        error = max(abs(achieved[name] + fraction) for name, (_, fraction) in requests.items())
        if error < CALIBRATION_TOLERANCE or iteration == iterations:
            break
        for name, (_, fraction) in requests.items():  # ln(volume ratio) is nearly linear in alpha
            alpha[name] *= math.log1p(-fraction) / math.log1p(achieved[name])
    coefficients = sum(alpha[name] * basis for name, basis in bases.items())
    requested = {name: fraction for name, (_, fraction) in requests.items()}
    if jacobian.min() <= 0:
        raise ValueError(f"shrink {requested}: too strong, the map folds (det grad phi {jacobian.min():.3f})")
    truth = region_changes(anatomy.labels, jacobian, {**regions, **targets}, box)
    return Atrophy(origin, box, coefficients, jacobian, alpha, requested, truth)


def displacement(atrophy: Atrophy, points: np.ndarray) -> np.ndarray:
    """d at anatomy points (N, 3), mm; 0 outside the box (where the field is 0 to begin with)."""
    index = (points - atrophy.origin) / ANATOMY_MM
    inside = np.all((index >= 0) & (index <= np.array(atrophy.jacobian.shape) - 1), axis=1)
    out = np.zeros_like(points)
    for i in range(3):
        out[inside, i] = ndimage.map_coordinates(
            atrophy.coefficients[i], index[inside].T, order=3, mode="mirror", prefilter=False
        )
    return out


def invert(atrophy: Atrophy, points: np.ndarray, tolerance_mm: float = 1e-6, max_iterations: int = 50):
    """psi(y) = phi^-1(y) at anatomy points y (N, 3) by the fixed point psi = y - d(psi), which
    converges since |grad d| < 1. Returns (psi, the largest |phi(psi(y)) - y| in mm)."""
    psi = points.copy()
    # outside the box d is 0 and stays 0 for a few voxels inside it: there psi(y) = y
    index = (points - atrophy.origin) / ANATOMY_MM
    inside = np.all((index >= 0) & (index <= np.array(atrophy.jacobian.shape) - 1), axis=1)
    targets = points[inside]
    moving = targets.copy()
    active = np.arange(len(targets))  # the points not yet within tolerance
    worst = 0.0
    for _ in range(max_iterations):
        moved = displacement(atrophy, moving[active])
        error = np.abs(moving[active] + moved - targets[active]).max(axis=1)
        done = error < tolerance_mm
        worst = max(worst, float(error[done].max(initial=0.0)))  # their final residual, as checked
        moving[active[~done]] = targets[active[~done]] - moved[~done]
        active = active[~done]
        if not len(active):
            break
    else:  # some not converged: the residual of where they are
        left = moving[active] + displacement(atrophy, moving[active]) - targets[active]
        worst = max(worst, float(np.abs(left).max()))
    psi[inside] = moving
    return psi, worst


def deformed_labels(source: Source, subject: SubjectMap, anatomy: Anatomy, atrophy) -> np.ndarray:
    """The follow-up's labels on the subject's anatomy grid: the atlas at w(psi(a)) by nearest
    neighbour (outside the atrophy's box psi is the identity: the baseline's labels). Their counts
    check the truth without the Jacobian, to within the noise of nearest-neighbour resampling."""
    labels = anatomy.labels.copy()
    if atrophy is None:
        return labels
    view = labels[atrophy.box]
    box_affine = anatomy.affine.copy()
    box_affine[:3, 3] = atrophy.origin
    shape = view.shape
    for start, stop in slabs(shape):
        points, _ = invert(atrophy, grid_points(box_affine, shape, start, stop))
        values = sample(source.atlas, source.atlas_affine, to_template(subject, points), order=0)
        view[..., start:stop] = values.reshape(shape[0], shape[1], stop - start)
    return labels


# ---------------------------------------------------------------- sessions


def session_grid(pose: np.ndarray, head_box, voxel_mm: float):
    """(affine, shape): an axis-aligned scanner grid of ``voxel_mm`` covering the head (its
    anatomy box as this pose puts it in the scanner) with MARGIN_MM to spare."""
    corners = np.array(np.meshgrid(*zip(*head_box, strict=True), indexing="ij")).reshape(3, -1).T
    scanner = apply_affine(np.linalg.inv(pose), corners)
    low = scanner.min(axis=0) - MARGIN_MM
    shape = tuple(int(n) for n in np.ceil((scanner.max(axis=0) + MARGIN_MM - low) / voxel_mm) + 1)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = np.round(low, 1)
    return affine, shape


def nifti(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """A NIfTI-1 image whose sform and qform both hold ``affine`` (scanner coordinates)."""
    image = nib.Nifti1Image(data, affine)
    image.set_sform(affine, code=1)
    image.set_qform(affine, code=1)
    image.header.set_xyzt_units("mm", "sec")
    return image


def scan(
    source: Source,
    subject: SubjectMap,
    anatomy: Anatomy,
    atrophy,
    voxel_mm: float,
    rng,
    snr: float = SNR,
    bias_peak: tuple[float, float] = BIAS_PEAK,
):
    """One session: a new pose, grid, bias field and Rician noise; the T1w resampled once from the
    blurred template through scanner → anatomy → (psi) → template, and the true labels through
    the same map by nearest neighbour. Returns (T1w int16 image, labels uint8 image, largest
    inversion residual in mm). ``snr`` = inf and ``bias_peak`` = (0, 0) leave out the noise and
    the bias field (the random draws stay the same, so the pose and anatomy do too)."""
    pose = random_pose(rng, anatomy.head_box[0] / 2 + anatomy.head_box[1] / 2)
    affine, shape = session_grid(pose, anatomy.head_box, voxel_mm)
    template, template_affine = blurred_template(source.template_path, float(voxel_mm))
    signal = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.uint8)
    bias_modes = random_modes(rng, 4, 1, BIAS_WAVELENGTH_MM, 1.0)
    log_bias = evaluate_modes_on_grid(bias_modes, affine, shape, 0, shape[2]).reshape(shape)  # the coil's
    residual = 0.0
    for start, stop in slabs(shape):
        if atrophy is None:
            points = grid_to_template(subject, pose @ affine, shape, start, stop)
        else:
            points, slab_residual = invert(atrophy, grid_points(pose @ affine, shape, start, stop))
            residual = max(residual, slab_residual)
            points = to_template(subject, points)
        size = (shape[0], shape[1], stop - start)
        signal[..., start:stop] = sample(template, template_affine, points, order=1).reshape(size)
        if source.head:
            head, head_affine = blurred_head(source.head, float(voxel_mm))
            signal[..., start:stop] += sample(head, head_affine, points, order=1).reshape(size)
        labels[..., start:stop] = sample(source.atlas, source.atlas_affine, points, order=0).reshape(size)
    # bias: smooth, multiplicative, peaking at ±10-15 % over the field of view
    log_bias *= math.log1p(rng.uniform(*bias_peak)) / np.abs(log_bias).max()
    signal = SCALE * signal * np.exp(log_bias)
    noise = SCALE * WM_LEVEL / snr  # Rician: the magnitude of complex Gaussian noise on the signal
    real = signal + rng.normal(0, noise, shape)
    imaginary = rng.normal(0, noise, shape)
    t1 = np.clip(np.rint(np.hypot(real, imaginary)), 0, np.iinfo(np.int16).max).astype(np.int16)
    return nifti(t1, affine), nifti(labels, affine), residual


def segmentation_noise(labels: np.ndarray, rng, fraction: float = FLIP_FRACTION, blob_voxels=1.0):
    """The labels as a cross-sectional segmenter might return them on a rescan: in patches of
    boundary voxels (where a smooth random field is highest) a voxel takes the label of a
    6-neighbour whose label is "favoured" more than its own this session (a random draw per label),
    so some regions grow and others shrink by a fraction of a percent to a few percent. About
    ``fraction`` of the labelled voxels change."""
    padded = np.pad(labels, 1)
    neighbours = np.stack(
        [
            padded[tuple(slice(1 + s[a], 1 + s[a] + labels.shape[a]) for a in range(3))]
            for s in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))
        ]
    ).reshape(6, -1)
    flat = labels.ravel()
    favour = rng.normal(size=int(max(flat.max(), neighbours.max())) + 1)  # this session's bias per label
    gain = favour[neighbours] - favour[flat]  # > 0: the neighbour's label would win this voxel
    candidates = np.flatnonzero((gain > 0).any(axis=0))
    field = ndimage.gaussian_filter(rng.standard_normal(labels.shape), blob_voxels).ravel()
    count = min(len(candidates), round(fraction * int((flat > 0).sum())))
    chosen = candidates[np.argsort(-field[candidates])[:count]]
    pick = gain[:, chosen].argmax(axis=0)  # the most favoured neighbouring label
    noisy = flat.copy()
    noisy[chosen] = neighbours[pick, chosen]
    return noisy.reshape(labels.shape)


# ---------------------------------------------------------------- a pair


class Pair(NamedTuple):
    """A baseline and a follow-up T1w of one subject, the baseline's labels on its grid, and the
    true relative change per region (from the Jacobian integral; e.g. -0.0198)."""

    baseline: nib.Nifti1Image
    followup: nib.Nifti1Image
    labels: nib.Nifti1Image
    truth: dict


class Simulation(NamedTuple):
    """A pair and how it was made: for checks of the generator itself."""

    pair: Pair
    subject: SubjectMap
    anatomy: Anatomy
    atrophy: Atrophy | None
    residual_mm: float  # largest |phi(psi(y)) - y| over the follow-up's voxels


def simulate_pair(
    cache_dir,
    voxel_mm: float = 2.0,
    shrink=None,
    seed: int = 0,
    snr: float = SNR,
    bias_peak=BIAS_PEAK,
    source: Source | None = None,
) -> Simulation:
    """A baseline and a follow-up T1w of one random subject, the baseline labels and the truth
    (:class:`Pair`), with the subject, its anatomy, the planted map and the inversion residual.

    ``shrink`` maps a region of config/regions/freesurfer.tsv (or a tuple of labels) to the
    fractional loss wanted (0.02: 2 %); None or {} gives a pseudo-rescan (same anatomy, new
    position, bias and noise; truth exactly 0). ``cache_dir`` holds the wheel's files; ``source``,
    another T1w and its labels (default: the wheel's template and IBSR atlas, :func:`load_source`)."""
    source = source or load_source(cache_dir)
    rng = np.random.default_rng(seed)
    subject = random_subject(rng, source.centre)
    anatomy = subject_anatomy(source, subject)
    atrophy = plan_atrophy(anatomy, shrink, source.regions)
    baseline, labels, _ = scan(source, subject, anatomy, None, voxel_mm, rng, snr, bias_peak)
    followup, _, residual = scan(source, subject, anatomy, atrophy, voxel_mm, rng, snr, bias_peak)
    truth = atrophy.truth if atrophy else dict.fromkeys(source.regions, 0.0)
    return Simulation(Pair(baseline, followup, labels, truth), subject, anatomy, atrophy, residual)


def make_pair(*args, **kwargs) -> Pair:
    """The :class:`Pair` of :func:`simulate_pair` (same arguments)."""
    return simulate_pair(*args, **kwargs).pair


# ---------------------------------------------------------------- a study


TRUTH_README = """# Planted truth of the deformation study

Written by `python -m brain_atrophy_demo.deform` (brain_atrophy_demo/deform.py) with the images;
nothing here is read by the pipeline.

Each subject is the brain-extracted 0.5 mm T1 template and the IBSR label atlas (FreeSurfer
codes) of the `{wheel}` wheel on PyPI, pulled through the subject's own random affine and smooth
warp; {shown}. Each follow-up is the subject's anatomy deformed
by a known smooth map phi that contracts the planted regions about their centroids (and
stretches a shell of a few mm around them to make room). Every session, baseline included, is
resampled once from the template with its own head position, bias field (up to ±10-15 %) and
Rician noise (white-matter SNR {snr:g}), in {voxel_mm:g} mm voxels stored as int16.

- `rates.tsv`: per group and region, the population rate planted (`rate_pct_per_year`: the
  region's volume follows exp(slope·years), slope = ln(1 + rate/100)); each subject's slope
  deviates from it with an SD of {rate_sd} %/yr.
- `subjects.tsv`: each subject's own planted rate per planted region.
- `volumes.tsv`: per session and region of the freesurfer preset:
  - `true_change`: the relative change from baseline, computed as the mean of det(grad phi)
    over the region's voxels on the subject's 1 mm anatomy grid (grad phi: the exact
    derivative of the cubic-spline field the follow-up was resampled with). Every region has
    one, planted or not: the unplanted ones change only as the contractions' surroundings
    stretch. The baseline's is 0.
  - `requested_change`: what the planted regions' contractions were calibrated to (the
    subject's slope × years; n/a where nothing was planted); `true_change` meets it to 1e-5.
  - `volume_mm3`: the region's volume in the baseline labels (derivatives/segmentation, on
    the baseline's own grid) × (1 + true_change): what a method multiplying the baseline
    labels' volume by the mean Jacobian should find.
  - `years`: the time from the baseline scan (the sessions' acq_time).

{labels}
"""


def parse_groups(text: str) -> dict[str, int]:
    groups = {}
    for item in text.split(","):
        name, _, count = item.partition("=")
        groups[name.strip()] = int(count)
    return groups


def build_study(
    out_dir,
    cache_dir,
    groups: dict[str, int] | None = None,
    weeks=DEFAULT_WEEKS,
    voxel_mm: float = 3.0,
    rates: dict | None = None,
    followup_labels: bool = False,
    seed: int = 0,
    head: bool = False,
) -> dict:
    """Write a BIDS study under ``out_dir``: bids/ (T1w per session), derivatives/segmentation/
    (baseline labels; with ``followup_labels`` each follow-up's too, with segmentation noise) and
    truth/ (README.md says what each table holds).

    ``groups``: name → subjects (default HC=6, MS=6); ``weeks``: scheduled visits, the first the
    baseline; ``rates``: group → region → planted %/yr (default DEFAULT_RATES, which knows HC and
    MS); ``head``: images of a head (brain_atrophy_demo.head) instead of a brain alone. Returns a
    summary (subjects, sessions, seconds, largest inversion residual)."""
    started = time.perf_counter()
    groups = groups or DEFAULT_GROUPS
    rates = rates or DEFAULT_RATES
    unknown = [group for group in groups if group not in rates]
    if unknown:
        raise ValueError(f"no planted rates for group(s) {unknown}: pass rates={{group: {{region: %/yr}}}}")
    weeks = tuple(sorted(weeks))
    source = load_source(cache_dir, head)
    out = Path(out_dir)
    bids_dir, seg_dir, truth_dir = study_folders(out)
    seeds = iter(np.random.SeedSequence(seed).spawn(sum(groups.values())))
    participants, subject_rows, volume_rows, residual, n_sessions = [], [], [], 0.0, 0
    for group, count in groups.items():
        for number in range(1, count + 1):
            label = f"{group}{number:02d}"
            rng = np.random.default_rng(next(seeds))
            subject = random_subject(rng, source.centre)
            anatomy = subject_anatomy(source, subject)
            slopes = {
                region: math.log1p(rate / 100) + rng.normal(0, RATE_SD / 100)
                for region, rate in rates[group].items()
            }
            participants.append({"participant_id": paths.participant_id(label), "group": group})
            subject_rows += [
                {
                    "participant_id": paths.participant_id(label),
                    "group": group,
                    "region": region,
                    "planted_rate_pct_per_year": 100 * math.expm1(slope),
                }
                for region, slope in slopes.items()
            ]
            first_day = date(2020, 1, 6) + timedelta(days=int(rng.integers(0, 365)))
            days = [7 * week + (int(rng.integers(-5, 6)) if week != weeks[0] else 0) for week in weeks]
            session_rows, baseline_volume, fields = [], {}, {}
            for week, day in zip(weeks, days, strict=True):
                session = f"w{week}"
                years = (day - days[0]) / 365.25
                shrink = {region: -math.expm1(slope * years) for region, slope in slopes.items()}
                atrophy = plan_atrophy(anatomy, shrink if years > 0 else None, source.regions, cache=fields)
                truth = atrophy.truth if atrophy else dict.fromkeys(source.regions, 0.0)
                t1, labels, session_residual = scan(source, subject, anatomy, atrophy, voxel_mm, rng)
                residual = max(residual, session_residual)
                _save(t1, paths.anat_file(bids_dir, label, session, "T1w", ".nii.gz"))
                data = np.asarray(labels.dataobj)
                if not baseline_volume:
                    voxel_mm3 = abs(np.linalg.det(labels.affine[:3, :3]))
                    baseline_volume = {
                        region: voxel_mm3 * int(region_mask(data, group_labels).sum())
                        for region, group_labels in source.regions.items()
                    }
                    _save(labels, paths.anat_file(seg_dir, label, session, "dseg", ".nii.gz"))
                elif followup_labels:
                    noisy = nifti(segmentation_noise(data, rng), labels.affine)
                    _save(noisy, paths.anat_file(seg_dir, label, session, "dseg", ".nii.gz"))
                acq = first_day + timedelta(days=day - days[0])
                session_rows.append(
                    {"session_id": paths.session_id(session), "acq_time": f"{acq.isoformat()}T09:00:00"}
                )
                for region in source.regions:
                    requested = atrophy.requested.get(region) if atrophy else None
                    volume_rows.append(
                        {
                            "participant_id": paths.participant_id(label),
                            "session_id": paths.session_id(session),
                            "group": group,
                            "years": years,
                            "region": region,
                            "volume_mm3": baseline_volume[region] * (1 + truth[region]),
                            "true_change": truth[region],
                            "requested_change": None if requested is None else -requested,
                        }
                    )
                n_sessions += 1
            write_rows(paths.sessions_table(bids_dir, label), ["session_id", "acq_time"], session_rows)
    write_rows(bids_dir / "participants.tsv", ["participant_id", "group"], participants)
    _write_descriptions(bids_dir, seg_dir, groups, followup_labels)
    write_rows(truth_dir / "volumes.tsv", list(volume_rows[0]), volume_rows)
    write_rows(truth_dir / "subjects.tsv", list(subject_rows[0]), subject_rows)
    rate_rows = [
        {"group": group, "region": region, "rate_pct_per_year": float(rate)}
        for group in groups
        for region, rate in rates[group].items()
    ]
    write_rows(truth_dir / "rates.tsv", ["group", "region", "rate_pct_per_year"], rate_rows)
    labels_note = (
        "The follow-ups' labels in derivatives/segmentation are the deformed true labels with a "
        f"cross-sectional segmenter's repeatability noise: patches of boundary voxels (about "
        f"{FLIP_FRACTION:.1%} of the labelled voxels, independently per session) relabelled to a "
        "neighbour's label. The baseline labels are the true labels, without noise."
        if followup_labels
        else "Only the baseline has labels (the true labels, without noise)."
    )
    (truth_dir / "README.md").write_text(
        TRUTH_README.format(
            wheel=ATLAS_WHEEL,
            snr=SNR,
            voxel_mm=voxel_mm,
            rate_sd=RATE_SD,
            labels=labels_note,
            shown=(
                f"outside the brain the images show the skull, scalp and neck of the mean head of the "
                f"`{HEAD_WHEEL}` wheel (brain_atrophy_demo/head.py), carried along by the same maps"
                if head
                else "the images therefore show the brain only"
            ),
        )
    )
    return {
        "subjects": len(participants),
        "sessions": n_sessions,
        "seconds": time.perf_counter() - started,
        "residual_mm": residual,
        "out_dir": str(out),
    }


def _save(image: nib.Nifti1Image, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)


def _write_descriptions(bids_dir: Path, seg_dir: Path, groups, followup_labels: bool) -> None:
    """dataset_description.json of both datasets, participants.json and the READMEs."""
    source = f"from {TEMPLATE_MEMBER} and {ATLAS_MEMBER} in {ATLAS_WHEEL}"
    (bids_dir / "dataset_description.json").write_text(
        json.dumps(
            {"Name": "brain-atrophy deformation study", "BIDSVersion": "1.9.0", "DatasetType": "raw"},
            indent=2,
        )
    )
    (seg_dir / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": "true labels of the deformation study",
                "BIDSVersion": "1.9.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "brain_atrophy_demo.deform", "Description": source}],
            },
            indent=2,
        )
    )
    levels = {group: GROUP_NAMES.get(group, group) for group in groups}
    (bids_dir / "participants.json").write_text(
        json.dumps({"group": {"Description": "Study group", "Levels": levels}}, indent=2) + "\n"
    )
    (bids_dir / "README.md").write_text(
        "# brain-atrophy deformation study\n\nSimulated T1w sessions with planted, smooth regional "
        f"atrophy, {source}; the planted truth is in ../truth/.\n"
    )
    which = "every session" if followup_labels else "the baseline session"
    (seg_dir / "README.md").write_text(f"# True labels\n\nIBSR labels (FreeSurfer codes) of {which}.\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir")
    parser.add_argument("--voxel-mm", type=float, default=3.0)
    parser.add_argument("--groups", type=parse_groups, default=DEFAULT_GROUPS, help="e.g. HC=6,MS=6")
    parser.add_argument("--weeks", default=",".join(map(str, DEFAULT_WEEKS)), help="e.g. 0,48,96")
    parser.add_argument("--followup-labels", action="store_true", help="labels for every session")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head", action="store_true", help="images of a head, not a brain alone")
    parser.add_argument("--cache", default=".cache", help="where the wheel's files are kept")
    args = parser.parse_args(argv)
    summary = build_study(
        args.out_dir,
        args.cache,
        args.groups,
        tuple(int(w) for w in args.weeks.split(",")),
        args.voxel_mm,
        followup_labels=args.followup_labels,
        seed=args.seed,
        head=args.head,
    )
    print(
        f"deformation study: {summary['subjects']} subjects, {summary['sessions']} sessions in "
        f"{summary['out_dir']} ({summary['seconds']:.0f} s; inversion residual "
        f"{summary['residual_mm']:.1e} mm)"
    )


if __name__ == "__main__":
    main()
