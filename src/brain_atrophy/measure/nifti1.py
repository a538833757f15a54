"""The NIfTI-1 header of a label image, read without nibabel when it is the common case.

Importing nibabel costs ~0.1 s, as much as measuring a label image, and the subject job pays
it once per subject. Almost every segmenter writes a single-file NIfTI-1 with an sform
(FreeSurfer's mri_convert, SynthSeg, FSL, ANTs/ITK, nibabel itself): for that case the fields
needed here are read with numpy from the layout of the NIfTI-1 standard (nifti1.h), and the
affine is the sform rows, as nibabel's get_best_affine gives them. ``read_common_header``
returns None for anything else (NIfTI-2, no sform, an unusual code, a header nibabel would
fix or refuse), and the caller reads that file through nibabel, with its checks and fixes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

HEADER_BYTES = 348
FIRST_DATA_BYTE = 352  # a single-file NIfTI-1's data start after the header and 4 extension bytes
SINGLE_FILE_MAGIC = b"n+1\0"
# NIfTI-1 datatype codes of the stored types a label image or a probability map may use
DATATYPES = {
    2: "u1",
    4: "i2",
    8: "i4",
    16: "f4",
    64: "f8",
    256: "i1",
    512: "u2",
    768: "u4",
    1024: "i8",
    1280: "u8",
}
SFORM_CODES = (1, 2, 3, 4)  # scanner, aligned, Talairach, MNI


def _header_dtype(byte_order: str) -> np.dtype:
    """The header fields used here, at their nifti1.h offsets."""
    fields = {
        "sizeof_hdr": ("i4", 0),
        "dim": (("i2", 8), 40),
        "datatype": ("i2", 70),
        "bitpix": ("i2", 72),
        "pixdim": (("f4", 8), 76),
        "vox_offset": ("f4", 108),
        "scl_slope": ("f4", 112),
        "scl_inter": ("f4", 116),
        "sform_code": ("i2", 254),
        "srow": (("f4", (3, 4)), 280),
        "magic": ("S4", 344),
    }
    return np.dtype(
        {
            "names": list(fields),
            "formats": [np.dtype(f).newbyteorder(byte_order) for f, _ in fields.values()],
            "offsets": [offset for _, offset in fields.values()],
            "itemsize": HEADER_BYTES,
        }
    )


HEADER_DTYPES = {order: _header_dtype(order) for order in "<>"}


class Nifti1Header(NamedTuple):
    """What reading the voxels and measuring them needs."""

    dims: tuple[int, ...]  # dim[1..dim[0]]
    dtype: np.dtype  # stored type, with the file's byte order
    pixdim: tuple[float, float, float]  # stored voxel sizes (before any fix)
    data_offset: int
    slope: float
    inter: float
    affine: np.ndarray  # 4×4 float64: the sform


def read_common_header(raw: bytes) -> Nifti1Header | None:
    """The header of a single-file NIfTI-1 with an sform, or None when the file is anything
    else (for nibabel to read)."""
    if len(raw) < HEADER_BYTES or raw[344:348] != SINGLE_FILE_MAGIC:
        return None
    order = "<" if int.from_bytes(raw[:4], "little") == HEADER_BYTES else ">"
    fields = np.frombuffer(raw, dtype=HEADER_DTYPES[order], count=1)[0]
    if int(fields["sizeof_hdr"]) != HEADER_BYTES:
        return None
    code = DATATYPES.get(int(fields["datatype"]))
    if code is None:
        return None
    dtype = np.dtype(code).newbyteorder(order)
    rank = int(fields["dim"][0])
    dims = tuple(int(n) for n in fields["dim"][1 : rank + 1])
    if not 1 <= rank <= 7 or min(dims) < 1 or int(fields["bitpix"]) != 8 * dtype.itemsize:
        return None
    if int(fields["sform_code"]) not in SFORM_CODES:
        return None
    offset = float(fields["vox_offset"])
    if offset == 0:
        offset = FIRST_DATA_BYTE
    if not (np.isfinite(offset) and offset >= FIRST_DATA_BYTE and offset == int(offset)):
        return None
    slope, inter = float(fields["scl_slope"]), float(fields["scl_inter"])
    if slope == 0 or not np.isfinite(slope):  # NIfTI: no scaling
        slope, inter = 1.0, 0.0
    elif not np.isfinite(inter):
        return None  # nibabel refuses it, and says why
    affine = np.eye(4)
    affine[:3, :] = fields["srow"]
    return Nifti1Header(
        dims=dims,
        dtype=dtype,
        pixdim=tuple(float(v) for v in fields["pixdim"][1:4]),
        data_offset=int(offset),
        slope=slope,
        inter=inter,
        affine=affine,
    )
