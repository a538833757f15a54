"""Input layouts: the FreeSurfer longitudinal stream (MGZ through nibabel) as well as BIDS."""

import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import cohort_config, run_snakemake

from brain_atrophy.bids import find_freesurfer_long

pytestmark = pytest.mark.slow


def freesurfer_long_tree(cohort, subjects_dir):
    """Each BIDS dseg image rewritten as SUBJECTS_DIR/<sub>_<ses>.long.<sub>_base/mri/aseg.mgz."""
    for image in sorted((cohort / "derivatives" / "segmentation").glob("sub-*/ses-*/anat/*_dseg.nii.gz")):
        subject, session = image.name.split("_")[:2]
        mri = subjects_dir / f"{subject}_{session}.long.{subject}_base" / "mri"
        mri.mkdir(parents=True)
        source = nib.load(image)
        labels = np.asanyarray(source.dataobj).astype(np.int32)
        nib.save(nib.MGHImage(labels, source.affine), mri / "aseg.mgz")
    (subjects_dir / "fsaverage").mkdir()  # other FreeSurfer folders are ignored


def test_discovery_of_longitudinal_runs(tmp_path):
    for name in ("sub-01_ses-1.long.sub-01_base", "02_2.long.base02", "sub-01_ses-1", "sub-01_base"):
        (tmp_path / name / "mri").mkdir(parents=True)
        (tmp_path / name / "mri" / "aseg.mgz").write_bytes(b"")
    found = find_freesurfer_long(tmp_path)
    assert found == {
        "01": {"1": str(tmp_path / "sub-01_ses-1.long.sub-01_base" / "mri" / "aseg.mgz")},
        "02": {"2": str(tmp_path / "02_2.long.base02" / "mri" / "aseg.mgz")},
    }


def test_freesurfer_longitudinal_layout_measures_like_bids(tiny_cohort, tmp_path):
    cohort = shutil.copytree(tiny_cohort, tmp_path / "cohort")
    freesurfer_long_tree(cohort, tmp_path / "subjects")
    bids_out, fs_out = tmp_path / "bids_out", tmp_path / "fs_out"
    run_snakemake(*cohort_config(cohort, bids_out), cwd=tmp_path)
    fs_config = cohort_config(
        cohort, fs_out, segmentation_dir=str(tmp_path / "subjects"), segmentation_layout="freesurfer_long"
    )
    run_snakemake(*fs_config, cwd=tmp_path)
    keys = ["participant_id", "session_id", "region"]
    bids = pd.read_csv(bids_out / "group" / "volumes.tsv", sep="\t").set_index(keys).sort_index()
    fs = pd.read_csv(fs_out / "group" / "volumes.tsv", sep="\t").set_index(keys).sort_index()
    assert list(fs.index) == list(bids.index)
    np.testing.assert_array_equal(fs["n_voxels"], bids["n_voxels"])
    np.testing.assert_allclose(fs["volume_mm3"], bids["volume_mm3"], rtol=1e-6)
