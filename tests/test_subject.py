"""One subject's job on real NIfTI files: volumes and the QC mosaic on the T1w."""

import nibabel as nib
import numpy as np
import pytest
from helpers import write_image
from PIL import Image

from brain_atrophy.errors import InputError
from brain_atrophy.measure.subject import process_subject

AFFINE = np.diag([1.2, 1.0, 1.1, 1.0])


@pytest.fixture
def subject(tmp_path):
    rng = np.random.default_rng(0)
    images, t1w = {}, {}
    for k, session in enumerate(("1", "2")):
        labels = np.zeros((24, 28, 20), dtype=np.int16)
        labels[4:20, 4 : 24 - k, 4:16] = 2
        labels[8:14, 10:16, 8:12] = 10
        anat = tmp_path / "seg" / "sub-01" / f"ses-{session}" / "anat"
        images[session] = write_image(anat / f"sub-01_ses-{session}_dseg.nii.gz", labels, AFFINE)
        intensity = (labels > 0) * 800.0 + rng.normal(100, 30, labels.shape)
        t1w[session] = write_image(anat / f"sub-01_ses-{session}_T1w.nii.gz", intensity, AFFINE, np.float32)
    regions = tmp_path / "regions.tsv"
    regions.write_text("region\tlabels\nbrain\t2 10\nthalamus\t10\n")
    return {"images": images, "t1w": t1w, "regions": regions, "out": tmp_path / "out"}


def run(subject, t1w):
    process_subject("01", subject["images"], subject["regions"], subject["out"], t1w_images=t1w)


def test_volumes_are_counts_times_the_voxel_volume(subject):
    run(subject, None)
    table = (subject["out"] / "ses-2" / "anat" / "sub-01_ses-2_volumes.tsv").read_text().splitlines()
    brain = dict(zip(table[0].split("\t"), table[1].split("\t"), strict=True))
    assert int(brain["n_voxels"]) == 16 * 19 * 12
    assert float(brain["volume_mm3"]) == pytest.approx(16 * 19 * 12 * 1.32)
    assert float(brain["voxel_mm3"]) == pytest.approx(1.32)


def grey_levels(png):
    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    grey = pixels[(pixels[:, 0] == pixels[:, 1]) & (pixels[:, 1] == pixels[:, 2])]
    return set(np.unique(grey[:, 0]).tolist())


def test_mosaic_is_drawn_on_the_t1w_when_there_is_one(subject):
    run(subject, None)
    mosaic = subject["out"] / "figures" / "sub-01_desc-regions_qc.png"
    greys_without = grey_levels(mosaic)
    run(subject, subject["t1w"])
    greys_with = grey_levels(mosaic)
    # labels alone: black, 150-grey, white canvas (and the text's anti-aliasing); a T1w: many levels
    assert len(greys_with) > len(greys_without) + 20


def test_a_t1w_on_another_grid_is_refused_naming_both_files(subject):
    data = np.asanyarray(nib.load(subject["t1w"]["2"]).dataobj)
    shifted = AFFINE.copy()
    shifted[:3, 3] = [0.0, 2.0, 0.0]
    write_image(subject["t1w"]["2"], data, shifted)
    with pytest.raises(InputError, match="T1w grid .* differs from its label image") as caught:
        run(subject, subject["t1w"])
    assert str(subject["t1w"]["2"]) in str(caught.value) and str(subject["images"]["2"]) in str(caught.value)
