"""The NIfTI-1 header read without nibabel: the same fields as nibabel reads, or None (and
nibabel reads the file) for anything but a single-file NIfTI-1 with an sform."""

import gzip
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from helpers import write_image

from brain_atrophy.measure.images import read_image
from brain_atrophy.measure.nifti1 import read_common_header

OBLIQUE = np.array(
    [
        [0.9, 0.1, 0.0, -80.5],
        [-0.1, 1.1, 0.05, -110.25],
        [0.0, -0.05, 1.3, -70.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def stored_bytes(image: nib.Nifti1Image) -> bytes:
    return image.to_bytes()


def labels(shape=(6, 7, 8), dtype="int16"):
    return np.random.default_rng(1).integers(0, 9, shape).astype(dtype)


STORED_TYPES = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "float32", "float64"]


@pytest.mark.parametrize("dtype", STORED_TYPES)
@pytest.mark.parametrize("byte_order", ["<", ">"])
@pytest.mark.parametrize("sform_code", [1, 2, 3, 4])
def test_fields_equal_nibabels(dtype, byte_order, sform_code):
    data = labels(dtype=dtype)
    stored = nib.Nifti1Header(endianness=byte_order)  # the header's byte order, and the data's
    stored.set_data_dtype(dtype)
    image = nib.Nifti1Image(data, OBLIQUE, header=stored)
    image.header.set_sform(OBLIQUE, code=sform_code)
    raw = stored_bytes(image)
    header = read_common_header(raw)
    reread = nib.Nifti1Image.from_bytes(raw)
    assert header is not None
    assert header.dims == data.shape
    assert header.dtype == reread.get_data_dtype() and header.dtype.byteorder in "<>|="
    assert (header.dtype.byteorder == ">") == (byte_order == ">" and header.dtype.itemsize > 1)
    assert header.data_offset == int(reread.dataobj.offset)
    np.testing.assert_array_equal(header.affine, reread.affine)
    assert (header.slope, header.inter) == (1.0, 0.0)


def test_scaling_follows_the_nifti_rules():
    image = nib.Nifti1Image(labels(), OBLIQUE)
    image.header.set_slope_inter(2.0, 1.0)
    header = read_common_header(stored_bytes(image))
    assert (header.slope, header.inter) == (2.0, 1.0)
    for slope in (0.0, np.nan):  # NIfTI: no scaling
        image.header["scl_slope"], image.header["scl_inter"] = slope, 5.0
        header = read_common_header(stored_bytes(image))
        assert (header.slope, header.inter) == (1.0, 0.0)


def test_zero_vox_offset_means_the_first_byte_after_the_header():
    image = nib.Nifti1Image(labels(), OBLIQUE)
    raw = bytearray(stored_bytes(image))
    raw[108:112] = np.float32(0).tobytes()
    assert read_common_header(bytes(raw)).data_offset == 352


def qform_only():
    image = nib.Nifti1Image(labels(), None)
    image.header.set_qform(OBLIQUE, code=1)
    image.header.set_sform(None, code=0)
    return stored_bytes(image)


def with_field(offset: int, value) -> bytes:
    """A little-endian NIfTI-1 with ``value`` (a numpy scalar) written over the field at
    ``offset`` (nifti1.h), past nibabel's own checks."""
    raw = bytearray(stored_bytes(nib.Nifti1Image(labels(), OBLIQUE)))
    raw[offset : offset + value.nbytes] = value.tobytes()
    return bytes(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(qform_only(), id="qform only"),
        pytest.param(nib.Nifti2Image(labels(), OBLIQUE).to_bytes(), id="NIfTI-2"),
        pytest.param(with_field(254, np.int16(7)), id="unknown sform code"),
        pytest.param(with_field(108, np.float32(100)), id="offset inside the header"),
        pytest.param(with_field(72, np.int16(8)), id="bitpix not the datatype's"),
        pytest.param(stored_bytes(nib.Nifti1Image(labels(), OBLIQUE))[:200], id="truncated header"),
    ],
)
def test_anything_else_is_left_to_nibabel(raw):
    assert read_common_header(raw) is None


def test_a_qform_only_image_is_read_through_nibabel_with_the_same_result(tmp_path):
    path = tmp_path / "q_dseg.nii.gz"
    path.write_bytes(gzip.compress(qform_only()))
    image, reread = read_image(path), nib.load(path)
    np.testing.assert_allclose(image.affine, reread.affine, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(image.voxels.reshape(image.shape, order="F"), reread.get_fdata())


def test_measuring_plain_nifti_never_imports_nibabel(tmp_path):
    """The subject job's import diet, checked in a fresh interpreter."""
    path = write_image(tmp_path / "sub-01_ses-1_dseg.nii.gz", labels(), OBLIQUE)
    code = (
        "import sys; from brain_atrophy.measure.images import read_image; "
        "from brain_atrophy.measure.volumes import label_counts; "
        f"assert label_counts(read_image({str(path)!r}).voxels); "
        "print('nibabel' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
