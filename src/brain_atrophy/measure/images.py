"""Reading label images: headers checked, voxels decoded once.

NIfTI files take a fast path: the whole file is decompressed in one call with the fastest
gzip decoder installed (isal, then zlib-ng, then the standard library), its output buffer
pre-sized from the gzip trailer, and the voxels are viewed in place with ``np.frombuffer``
at the header's data offset. The common NIfTI-1 header (single file, with an sform) is read
without nibabel (nifti1.py), so that a job measuring plain NIfTI never imports it; any other
NIfTI header is read and checked by nibabel, and other formats (MGZ/MGH) go through
``nibabel.load``. Either way the caller gets the raw stored labels, never a float64 copy.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import InputError
from .nifti1 import read_common_header

try:  # fastest first; all three take the same (data, wbits, bufsize) call
    from isal.isal_zlib import decompress as _inflate
    from isal.isal_zlib import error as _InflateError
except ImportError:  # pragma: no cover - depends on what is installed
    try:
        from zlib_ng.zlib_ng import decompress as _inflate
        from zlib_ng.zlib_ng import error as _InflateError
    except ImportError:
        _inflate = zlib.decompress
        _InflateError = zlib.error

GZIP_MAGIC = b"\x1f\x8b"
NIFTI_SUFFIXES = (".nii", ".nii.gz")
NIBABEL_SUFFIXES = (".mgz", ".mgh")


class StoredImage(NamedTuple):
    """Stored voxel values (flattened, file order) and what is needed to turn counts into mm³."""

    voxels: np.ndarray
    shape: tuple[int, ...]
    affine: np.ndarray

    @property
    def voxel_volume_mm3(self) -> float:
        return voxel_volume_mm3(self.affine)


def voxel_volume_mm3(affine: np.ndarray) -> float:
    """Volume of one voxel: |det| of the affine's 3×3 part, right for flipped and oblique grids."""
    return float(abs(np.linalg.det(np.asarray(affine, dtype=float)[:3, :3])))


def same_grid(a: StoredImage, b: StoredImage, tolerance_mm: float = 1e-3) -> bool:
    """Whether two images share a voxel grid: the same shape and affines equal to ``tolerance_mm``."""
    return a.shape == b.shape and bool(np.allclose(a.affine, b.affine, atol=tolerance_mm, rtol=0))


def describe_grid(image: StoredImage) -> str:
    """'256×256×256 of 1×1×1 mm' (voxel sizes from the affine's columns)."""
    sizes = np.linalg.norm(np.asarray(image.affine, dtype=float)[:3, :3], axis=0)
    return "×".join(str(n) for n in image.shape) + " of " + "×".join(f"{v:.3g}" for v in sizes) + " mm"


def gunzip(raw: bytes, source) -> bytes:
    """Decompress a whole gzip file; a damaged stream is an InputError naming ``source``."""
    expected = int.from_bytes(raw[-4:], "little")  # ISIZE: uncompressed size mod 2**32
    try:
        data = _inflate(raw, wbits=31, bufsize=max(expected, 1))
    except (_InflateError, ValueError) as err:
        raise InputError(source, f"corrupt or truncated gzip data ({err})") from None
    if len(data) % 2**32 != expected:
        # a multi-member gzip file: the one-shot decoder stopped after the first member
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise InputError(source, f"corrupt or truncated gzip data ({err})") from None
    return data


def _spatial_shape(shape, source) -> tuple[int, int, int]:
    """The 3D shape of a label volume; trailing singleton dimensions are dropped."""
    shape = tuple(int(n) for n in shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        raise InputError(source, f"expected one 3D label volume, found an image of shape {shape}")
    return shape


def _check_pixdim(zooms, source) -> None:
    zooms = np.asarray(zooms, dtype=float)
    if not np.all(np.isfinite(zooms)) or np.any(zooms <= 0):
        raise InputError(source, f"voxel size must be positive, header has {tuple(zooms.tolist())}")


def _check_affine(affine, source) -> None:
    if not np.all(np.isfinite(affine)):
        raise InputError(source, "the header's affine holds NaN or infinite values")
    if voxel_volume_mm3(affine) <= 0:
        raise InputError(source, "the header's affine is singular (voxel volume 0)")


def _check_geometry(header, affine, source) -> None:
    _check_pixdim(header.get_zooms()[:3], source)
    _check_affine(affine, source)


def _stored_voxels(raw: bytes, shape, dtype, offset: int, slope: float, inter: float, path) -> np.ndarray:
    """The voxels in file (Fortran) order, viewed in place, scaled when the header says so."""
    count = int(np.prod(shape))
    need = offset + count * dtype.itemsize
    if len(raw) < need:
        raise InputError(path, f"file holds {len(raw)} bytes but its header needs {need} (truncated?)")
    voxels = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    if (slope, inter) != (1.0, 0.0):
        voxels = voxels * np.float64(slope) + np.float64(inter)
    return voxels


def _read_nifti(path: Path) -> StoredImage:
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        raw = gunzip(raw, path)
    elif path.name.endswith(".gz"):
        raise InputError(path, "named .gz but is not gzip-compressed")
    header = read_common_header(raw)
    if header is None:
        return _read_nifti_with_nibabel(raw, path)
    _check_pixdim(header.pixdim, path)
    shape = _spatial_shape(header.dims, path)
    _check_affine(header.affine, path)
    voxels = _stored_voxels(raw, shape, header.dtype, header.data_offset, header.slope, header.inter, path)
    return StoredImage(voxels=voxels, shape=shape, affine=header.affine)


def _read_nifti_with_nibabel(raw: bytes, path: Path) -> StoredImage:
    import nibabel as nib  # only for headers nifti1.read_common_header leaves to it

    nifti2 = raw[:4] in (b"\x1c\x02\x00\x00", b"\x00\x00\x02\x1c")
    image_class = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    try:
        # nibabel silently repairs a zero or negative pixdim: check the header as stored first
        stored = image_class.header_class.from_fileobj(io.BytesIO(raw), check=False)
        _check_pixdim(stored["pixdim"][1:4], path)
        image = image_class.from_bytes(raw)
    except InputError:
        raise
    except Exception as err:  # nibabel raises several types for a bad header
        raise InputError(path, f"not a readable NIfTI file ({err})") from None
    proxy = image.dataobj
    shape = _spatial_shape(proxy.shape, path)
    _check_geometry(image.header, image.affine, path)
    voxels = _stored_voxels(raw, shape, proxy.dtype, int(proxy.offset), proxy.slope, proxy.inter, path)
    if proxy.order == "C":  # pragma: no cover - NIfTI is always Fortran order
        voxels = voxels.reshape(shape, order="C").ravel(order="F")
    return StoredImage(voxels=voxels, shape=shape, affine=image.affine)


def _read_with_nibabel(path: Path) -> StoredImage:
    import nibabel as nib  # MGZ/MGH: FreeSurfer's formats

    try:
        image = nib.load(path)
        data = np.asanyarray(image.dataobj)
    except Exception as err:
        raise InputError(path, f"not a readable image ({err})") from None
    shape = _spatial_shape(data.shape, path)
    _check_geometry(image.header, image.affine, path)
    return StoredImage(voxels=data.reshape(-1, order="F"), shape=shape, affine=image.affine)


def read_image(path) -> StoredImage:
    """Read a 3D image (NIfTI-1/2, .nii or .nii.gz; MGZ/MGH) and check its header.

    The voxels are returned as stored, so this reads a T1w as well as a label image; whether
    they are valid labels is checked when they are counted."""
    path = Path(path)
    name = path.name.lower()
    if not path.is_file():
        raise InputError(path, "file not found")
    if name.endswith(NIFTI_SUFFIXES):
        return _read_nifti(path)
    if name.endswith(NIBABEL_SUFFIXES):
        return _read_with_nibabel(path)
    raise InputError(path, "unsupported image format (expected .nii, .nii.gz, .mgz or .mgh)")
