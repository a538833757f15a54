"""atlas_registration's parts: the default head template registered to a subject's baseline T1w
(ANTsPy) and the atlas labels carried over, against subjects made by warping a head
(brain_atrophy_demo.deform with head=True: the 0.5 mm brain template and its labels inside, the
pydeface wheel's mean head with skull, scalp and neck outside; a random affine and a smooth warp
per subject, then its own position, noise and bias field). The truth is the generator's warped
labels, never the method's.

The bars of the issue are checked at 3 mm on one subject (the 1 mm figures are in
benchmarks/atlas_registration.py): regions of >= 5 ml within 5 % of their true volume, the
whole brain within 2 %, Dice >= 0.80 for the thalamus and cerebellum."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from conftest import REPO
from scipy import ndimage

from brain_atrophy import paths
from brain_atrophy.errors import InputError
from brain_atrophy.inputs.regions import load_regions
from brain_atrophy.measure.atlas import check_atlas_labels, template_fit, template_row
from brain_atrophy.register import template
from brain_atrophy.register.job import write_fault
from brain_atrophy_demo import atlas as default_atlas
from brain_atrophy_demo import head
from brain_atrophy_demo.deform import build_study

REGIONS = load_regions(REPO / "config" / "regions" / "freesurfer.tsv")
SUBJECTS = {"HC": 1}
VOXEL_MM = 3.0


@pytest.fixture(scope="module")
def installed():
    """The default template, brain mask and atlas, as `make atlas` installs them."""
    return default_atlas.install(REPO / ".cache" / "atlas", REPO / ".cache")


@pytest.fixture(scope="module")
def carried(installed, tmp_path_factory):
    """One 3 mm subject: {subject: (true labels, carried by genericLabel, by nearest
    neighbour, the fit's measures)}."""
    study = tmp_path_factory.mktemp("atlas-subjects")
    build_study(study, REPO / ".cache", SUBJECTS, (0,), voxel_mm=VOXEL_MM, seed=11, head=True)
    results = {}
    for subject in [f"HC{k:02d}" for k in range(1, SUBJECTS["HC"] + 1)]:
        t1w = paths.anat_file(study / "bids", subject, "w0", "T1w", ".nii.gz")
        truth = paths.anat_file(study / "derivatives" / "segmentation", subject, "w0", "dseg", ".nii.gz")
        folder = study / "fits" / subject
        folder.mkdir(parents=True)
        fit = template.fit_template(
            t1w, installed["template"], installed["brain_mask"], {},
            folder / "warp.nii.gz", folder / "affine.mat", threads=1,
        )  # fmt: skip
        results[subject] = (
            np.asarray(nib.load(truth).dataobj).astype(int),
            *(
                template.carry_labels(t1w, installed["labels"], installed["template"], fit.transforms, how)
                for how in ("genericLabel", "nearestNeighbor")
            ),
            fit.measures,
        )
    return results


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.sum(a & b) / (a.sum() + b.sum())


def region_masks(labels: np.ndarray) -> dict[str, np.ndarray]:
    return {name: np.isin(labels, list(codes)) for name, codes in REGIONS.items()}


@pytest.mark.slow
def test_carried_volumes_meet_the_bars(carried):
    voxel_ml = VOXEL_MM**3 / 1000
    for subject, (truth, carried_labels, _, measures) in carried.items():
        true, found = region_masks(truth), region_masks(carried_labels)
        assert measures["similarity"] > 0.95, subject
        for region in REGIONS:
            true_ml, ratio = true[region].sum() * voxel_ml, found[region].sum() / true[region].sum()
            assert true_ml >= 5, f"{subject} {region}: {true_ml:.1f} ml"
            limit = 0.02 if region == "whole_brain" else 0.05
            assert abs(ratio - 1) <= limit, f"{subject} {region}: carried/true volume {ratio:.3f}"
        for region in ("thalamus", "cerebellum"):
            assert dice(true[region], found[region]) >= 0.80, f"{subject} {region}"


@pytest.mark.slow
def test_per_label_interpolation_is_no_worse_than_nearest(carried):
    """genericLabel (the default) against nearest neighbour: the mean Dice over regions and
    subjects (docs/atlas.md gives both)."""
    scores = {"genericLabel": [], "nearestNeighbor": []}
    for truth, generic, nearest, _ in carried.values():
        true = region_masks(truth)
        for how, labels in (("genericLabel", generic), ("nearestNeighbor", nearest)):
            found = region_masks(labels)
            scores[how] += [dice(true[r], found[r]) for r in REGIONS]
    assert np.mean(scores["genericLabel"]) >= np.mean(scores["nearestNeighbor"]) - 0.002, scores


def small_image(path, data, zooms=(2.0, 2.0, 2.0), origin=(0.0, 0.0, 0.0)):
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = origin
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), affine), path)
    return path


def test_a_template_that_is_not_3d_is_an_error_naming_it(tmp_path):
    t1w = small_image(tmp_path / "t1w.nii.gz", np.ones((8, 8, 8)))
    four_d = small_image(tmp_path / "template.nii.gz", np.ones((8, 8, 8, 2)))
    with pytest.raises(InputError, match="template is not a 3D image") as raised:
        template.fit_template(t1w, four_d, None, {}, tmp_path / "w.nii.gz", tmp_path / "a.mat")
    assert raised.value.source == str(four_d)


def test_atlas_labels_that_miss_the_template_are_an_error_naming_them(tmp_path):
    cube = np.zeros((10, 10, 10))
    cube[3:7, 3:7, 3:7] = 1
    t1w = small_image(tmp_path / "t1w.nii.gz", cube)
    tpl = small_image(tmp_path / "template.nii.gz", cube)
    far = small_image(tmp_path / "labels.nii.gz", cube * 10, origin=(500.0, 0.0, 0.0))
    with pytest.raises(InputError, match="do not overlap the template") as raised:
        template.carry_labels(t1w, far, tpl, [], "nearestNeighbor")
    assert raised.value.source == str(far)


def test_regions_without_any_label_in_the_atlas_are_an_error_naming_it(tmp_path):
    labels = np.zeros((6, 6, 6))
    labels[1:3, 1:3, 1:3] = 10
    atlas = small_image(tmp_path / "atlas.nii.gz", labels)
    check_atlas_labels(atlas, {"thalamus": (10, 49)})  # one of its labels is enough
    with pytest.raises(InputError, match=r"none of the labels of region\(s\) putamen \(12 51\)") as raised:
        check_atlas_labels(atlas, {"thalamus": (10, 49), "putamen": (12, 51)})
    assert raised.value.source == str(atlas)


def test_a_poorly_aligned_template_is_flagged():
    measures = {"similarity": 0.7, "seconds": 12.0}
    row = template_row("01", "w0", measures, {})
    assert row["flags"] == "poor_alignment"
    assert row["baseline_session_id"] == "template" and row["session_id"] == "ses-w0"
    assert template_row("01", "w0", {**measures, "similarity": 0.95}, {})["flags"] == ""
    assert template_row("01", "w0", measures, {"min_template_similarity": 0.6})["flags"] == ""


def test_a_template_fit_left_out_raises_its_recorded_fault(tmp_path):
    files = paths.atlas_registration_files(tmp_path, "01", "w0")
    write_fault(files["errors"], "01", "w0", InputError("/data/t1w.nii.gz", "T1w is not a 3D image"))
    with pytest.raises(InputError, match="not a 3D image") as raised:
        template_fit(tmp_path, "01", "w0")
    assert raised.value.source == "/data/t1w.nii.gz"
    files["errors"].unlink()
    files["measures"].write_text(json.dumps({"similarity": 0.9}))
    assert template_fit(tmp_path, "01", "w0")[0] == {"similarity": 0.9}


def test_the_default_atlas_is_a_head_template_on_one_grid(installed):
    """The head template is the brain template inside the brain mask and a head outside it; the
    atlas lies inside the mask; all four images share one grid."""
    images = {key: nib.load(path) for key, path in installed.items()}
    images["brain"] = nib.load(installed["template"].with_name(default_atlas.BRAIN_TEMPLATE))
    assert {image.shape for image in images.values()} == {images["labels"].shape}
    assert all(np.allclose(image.affine, images["labels"].affine) for image in images.values())
    brain = np.asarray(images["brain_mask"].dataobj) > 0
    labelled = np.asarray(images["labels"].dataobj) > 0
    assert np.mean(brain[labelled]) > 0.99
    head, brain_only = (np.asarray(images[key].dataobj) for key in ("template", "brain"))
    assert np.array_equal(head[brain], brain_only[brain]) and brain_only[~brain].max() == 0
    white = np.median(brain_only[np.isin(np.asarray(images["labels"].dataobj), (2, 41))])
    outside = ndimage.distance_transform_edt(~brain)
    assert np.percentile(head[(outside > 3) & (outside < 15)], 90) > 0.6 * white  # skull and scalp


def test_the_head_is_aligned_to_the_template_brain(installed):
    """The pydeface head's own brain, as align_head carries it, matches the template's: inside the
    brain their intensities correlate, better than with the head moved 4 mm along any axis."""
    labels_image = nib.load(installed["labels"])
    brain_image = nib.load(installed["template"].with_name(default_atlas.BRAIN_TEMPLATE))
    mask = np.asarray(nib.load(installed["brain_mask"]).dataobj) > 0
    fitted = head.align_head(
        REPO / ".cache", brain_image.get_fdata(dtype=np.float32), mask,
        np.asarray(labels_image.dataobj), brain_image.affine,
    )  # fmt: skip
    inside = ndimage.binary_erosion(mask, iterations=8)
    aligned, template_values = fitted.values[fitted.atlas_slices], brain_image.get_fdata()[inside]

    def correlation(values):
        return np.corrcoef(values[inside], template_values)[0, 1]

    moved = [correlation(np.roll(aligned, shift, axis)) for axis in range(3) for shift in (-4, 4)]
    assert correlation(aligned) > max(0.5, *moved), (correlation(aligned), moved)
