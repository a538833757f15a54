"""Input layouts: the FreeSurfer longitudinal stream (MGZ through nibabel) as well as BIDS."""

import shutil

import nibabel as nib
import numpy as np
import pytest
from conftest import cohort_config, run_snakemake
from helpers import write_image

from brain_atrophy.tables import read_frame

pytestmark = pytest.mark.slow


def freesurfer_long_tree(cohort, subjects_dir):
    """Each BIDS dseg image rewritten as SUBJECTS_DIR/<sub>_<ses>.long.<sub>_base/mri/aseg.mgz."""
    for image in sorted((cohort / "derivatives" / "segmentation").glob("sub-*/ses-*/anat/*_dseg.nii.gz")):
        subject, session = image.name.split("_")[:2]
        mri = subjects_dir / f"{subject}_{session}.long.{subject}_base" / "mri"
        source = nib.load(image)
        write_image(mri / "aseg.mgz", np.asanyarray(source.dataobj), source.affine, np.int32)
    (subjects_dir / "fsaverage").mkdir()  # other FreeSurfer folders are ignored


def test_freesurfer_longitudinal_layout_measures_like_bids(default_run, tmp_path):
    """The default run's cohort as FreeSurfer's longitudinal stream leaves it: same volumes."""
    cohort = shutil.copytree(default_run.cohort, tmp_path / "cohort")
    freesurfer_long_tree(cohort, tmp_path / "subjects")
    bids_out, fs_out = default_run.out, tmp_path / "fs_out"
    fs_config = cohort_config(
        cohort, fs_out, segmentation_dir=str(tmp_path / "subjects"), segmentation_layout="freesurfer_long"
    )
    run_snakemake(*fs_config, cwd=tmp_path)
    keys = ["participant_id", "session_id", "region"]
    bids = read_frame(bids_out / "group" / "volumes.tsv").set_index(keys).sort_index()
    fs = read_frame(fs_out / "group" / "volumes.tsv").set_index(keys).sort_index()
    assert list(fs.index) == list(bids.index)
    np.testing.assert_array_equal(fs["n_voxels"], bids["n_voxels"])
    np.testing.assert_allclose(fs["volume_mm3"], bids["volume_mm3"], rtol=1e-6)


GM_CODES = [3, 42, 8, 47, 10, 49, 11, 50, 12, 51, 13, 52, 17, 53, 18, 54, 26, 58]
WM_CODES = [2, 41, 7, 46, 77, 251, 252, 253, 254, 255]


def cat12_tree(cohort, target):
    """Each session's dseg rewritten as CAT12-style uncompressed maps p1 (GM) and p2 (WM): 0.9
    inside the tissue's labels, 0.1 in the other tissue (partial volume), plus a T1w."""
    expected = {}
    for image in sorted((cohort / "derivatives" / "segmentation").glob("sub-*/ses-*/anat/*_dseg.nii.gz")):
        subject, session = image.name.split("_")[:2]
        anat = target / subject / session / "anat"
        anat.mkdir(parents=True)
        source = nib.load(image)
        labels = np.asanyarray(source.dataobj)
        gm, wm = np.isin(labels, GM_CODES), np.isin(labels, WM_CODES)
        p1 = (0.9 * gm + 0.1 * wm).astype(np.float32)
        p2 = (0.9 * wm + 0.1 * gm).astype(np.float32)
        name = f"{subject}_{session}_T1w.nii"
        write_image(anat / f"p1{name}", p1, source.affine)
        write_image(anat / f"p2{name}", p2, source.affine)
        write_image(anat / name, 100 + 800 * p2 + 500 * p1, source.affine, np.int16)
        voxel = abs(np.linalg.det(source.affine[:3, :3]))
        expected[(subject, session)] = {
            "gray_matter": float(p1.sum(dtype=np.float64)) * voxel,
            "white_matter": float(p2.sum(dtype=np.float64)) * voxel,
        }
    return expected


def test_tissue_maps_through_a_real_run(tiny_cohort, tmp_path):
    cohort = shutil.copytree(tiny_cohort, tmp_path / "cohort")
    expected = cat12_tree(cohort, tmp_path / "cat12")
    first = next(
        iter(sorted((cohort / "derivatives" / "segmentation").glob("sub-*/ses-*/anat/*_dseg.nii.gz")))
    )
    # an atlas in the same world space on a 2 mm grid: resampled to each map's grid
    source = nib.load(first)
    atlas = np.asanyarray(source.dataobj)[::2, ::2, ::2]
    affine = source.affine.copy()
    affine[:3, :3] *= 2
    write_image(tmp_path / "atlas.nii.gz", atlas, affine, np.int16)
    table = tmp_path / "regions.tsv"
    table.write_text(
        "region\ttissue\tlabels\nwhole_brain\tGM WM\t\ngray_matter\tGM\t\nwhite_matter\tWM\t\n"
        "thalamus_gm\tGM\t10 49\n"
    )
    out = tmp_path / "out"
    config = cohort_config(
        cohort,
        out,
        segmentation_dir=str(tmp_path / "cat12"),
        tissue_maps={"GM": "p1*.nii", "WM": "p2*.nii"},
        atlas=str(tmp_path / "atlas.nii.gz"),
        regions=str(table),
    )
    run_snakemake(*config, cwd=tmp_path)
    volumes = read_frame(out / "group" / "volumes.tsv")
    assert len(volumes) == 4 * len(expected)
    for (subject, session), truth in expected.items():
        rows = volumes[(volumes["participant_id"] == subject) & (volumes["session_id"] == session)]
        measured = rows.set_index("region")["volume_mm3"]
        assert measured["gray_matter"] == pytest.approx(truth["gray_matter"], rel=1e-6)
        assert measured["white_matter"] == pytest.approx(truth["white_matter"], rel=1e-6)
        assert measured["whole_brain"] == pytest.approx(
            truth["gray_matter"] + truth["white_matter"], rel=1e-6
        )
        assert 0 < measured["thalamus_gm"] < measured["gray_matter"]
    logs = "".join(p.read_text() for p in (out / "logs" / "subject_volumes").glob("*.log"))
    assert "resampled to the grid of" in logs and "+ T1w" in logs
    rates = read_frame(out / "group" / "rates_by_group.tsv")
    assert set(rates["region"]) == {"whole_brain", "gray_matter", "white_matter", "thalamus_gm"}
    assert "tissue probability maps" in (out / "group" / "methods.md").read_text()
    assert (out / "figures" / "qc_flagged.png").is_file()
