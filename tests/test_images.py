"""Reading label images: header checks, voxel volume, stored types and damaged files."""

import gzip
import struct

import nibabel as nib
import numpy as np
import pytest
from helpers import write_image

from brain_atrophy.errors import InputError
from brain_atrophy.measure.images import read_image, voxel_volume_mm3
from brain_atrophy.measure.volumes import label_counts


def labels_volume(shape=(7, 8, 9), seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 6, shape).astype(np.int16)


@pytest.mark.parametrize(
    "affine",
    [
        np.diag([1.0, 1.0, 1.0, 1.0]),
        np.diag([-0.9, 1.1, 1.2, 1.0]),  # flipped x
        np.diag([0.8, -0.8, -2.5, 1.0]),  # two flips, anisotropic
    ],
)
def test_voxel_volume_is_abs_det(affine):
    assert voxel_volume_mm3(affine) == pytest.approx(abs(np.prod(np.diag(affine)[:3])), rel=1e-12)


def test_voxel_volume_of_oblique_grid():
    angle = 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([1.2, 0.9, 1.5])
    assert voxel_volume_mm3(affine) == pytest.approx(1.2 * 0.9 * 1.5, rel=1e-12)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "uint16", "float32", "float64"])
@pytest.mark.parametrize("name", ["x_dseg.nii.gz", "x_dseg.nii"])
def test_reads_stored_labels_like_nibabel(tmp_path, dtype, name):
    data = labels_volume().astype(dtype)
    affine = np.diag([-1.1, 0.9, 1.3, 1])
    path = write_image(tmp_path / name, data, affine)
    image = read_image(path)
    assert image.shape == data.shape
    np.testing.assert_array_equal(image.voxels.reshape(data.shape, order="F"), nib.load(path).get_fdata())
    assert image.voxel_volume_mm3 == pytest.approx(1.1 * 0.9 * 1.3)


def test_big_endian_and_scaled_storage(tmp_path):
    data = labels_volume()
    image = nib.Nifti1Image(data.astype(">i2"), np.eye(4))
    image.header.set_slope_inter(2.0, 0.0)
    path = tmp_path / "be_dseg.nii"
    nib.save(image, path)
    read = read_image(path)
    np.testing.assert_array_equal(read.voxels.reshape(data.shape, order="F"), nib.load(path).get_fdata())


def test_mgz_is_read_through_nibabel(tmp_path):
    data = labels_volume().astype(np.int32)
    path = write_image(tmp_path / "aseg.mgz", data, np.diag([1.0, 1.0, 1.2, 1.0]))
    image = read_image(path)
    assert label_counts(image.voxels) == label_counts(data.ravel())
    assert image.voxel_volume_mm3 == pytest.approx(1.2)


def test_trailing_singleton_dimension_is_accepted(tmp_path):
    data = labels_volume()[..., None]
    assert read_image(write_image(tmp_path / "x_dseg.nii.gz", data)).shape == data.shape[:3]


def test_4d_image_is_refused(tmp_path):
    path = write_image(tmp_path / "x_dseg.nii.gz", np.stack([labels_volume()] * 2, axis=-1))
    with pytest.raises(InputError, match=r"expected one 3D label volume.*\(7, 8, 9, 2\)") as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_truncated_gzip_is_refused(tmp_path):
    path = write_image(tmp_path / "x_dseg.nii.gz", labels_volume(shape=(40, 40, 40)))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="corrupt or truncated gzip"):
        read_image(path)


def test_truncated_uncompressed_file_is_refused(tmp_path):
    path = write_image(tmp_path / "x_dseg.nii", labels_volume())
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(InputError, match="truncated"):
        read_image(path)


def test_text_file_is_not_a_nifti(tmp_path):
    path = tmp_path / "x_dseg.nii.gz"
    path.write_bytes(gzip.compress(b"this is not an image\n" * 30))
    with pytest.raises(InputError, match="not a readable NIfTI"):
        read_image(path)


def test_uncompressed_file_named_gz_is_refused(tmp_path):
    path = tmp_path / "x_dseg.nii.gz"
    path.write_bytes(b"plain text")
    with pytest.raises(InputError, match="not gzip-compressed"):
        read_image(path)


@pytest.mark.parametrize("size", [0.0, -1.0])
def test_zero_or_negative_voxel_size_is_refused(tmp_path, size):
    # nibabel will not write such a header, so patch the bytes: pixdim[2] (offset 84) and
    # qform_code/sform_code (252, 254) set to 0 so the affine comes from pixdim
    path = write_image(tmp_path / "x_dseg.nii", labels_volume())
    raw = bytearray(path.read_bytes())
    raw[84:88] = struct.pack("<f", size)
    raw[252:256] = struct.pack("<hh", 0, 0)
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="voxel size must be positive") as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_multi_member_gzip_is_read(tmp_path):
    path = write_image(tmp_path / "x_dseg.nii", labels_volume(shape=(30, 30, 30)))
    raw = path.read_bytes()
    split = len(raw) // 3
    member_path = tmp_path / "multi_dseg.nii.gz"
    member_path.write_bytes(gzip.compress(raw[:split]) + gzip.compress(raw[split:]))
    image = read_image(member_path)
    assert label_counts(image.voxels) == label_counts(read_image(path).voxels)
