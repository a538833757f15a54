"""A cohort unlike the demo: its own label scheme and region table, mixed orientations, voxel
sizes, storage types and file formats. Volumes must equal an independent count (1e-6) and the
group rates must equal R lme4's (0.005 %/yr), through a real Snakemake run."""

import math

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import cohort_config, run_snakemake
from helpers import compare_with_lmer, write_image

from brain_atrophy.tables import read_frame

pytestmark = [pytest.mark.slow, pytest.mark.r]

REGIONS = {"core": (101, 102), "shell": (103, 104, 105), "everything": tuple(range(101, 111))}
GROUP_RATES = {"ctrl": -0.3, "pat": -0.9, "pat2": -1.5}
SHAPE = (36, 44, 32)
STORAGE = [
    ("uint16", ".nii.gz"),
    ("int32", ".nii"),
    ("float32", ".nii.gz"),
    ("uint8", ".nii"),
    ("int16", ".nii.gz"),
]


def base_labels():
    """Nested ellipsoids labelled 101..110 from the centre outwards."""
    grid = np.indices(SHAPE).astype(float)
    centre = (np.array(SHAPE) - 1) / 2
    radius = np.sqrt(sum(((grid[i] - centre[i]) / (SHAPE[i] / 2.2)) ** 2 for i in range(3)))
    labels = np.zeros(SHAPE, dtype=np.int32)
    inside = radius < 1
    labels[inside] = 101 + np.minimum((radius[inside] * 10).astype(int), 9)
    return labels


def affine_for(rng):
    zooms = rng.uniform(0.7, 1.6, 3)
    angle = rng.uniform(-0.4, 0.4)
    rotation = np.array(
        [[math.cos(angle), 0, math.sin(angle)], [0, 1, 0], [-math.sin(angle), 0, math.cos(angle)]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(rng.choice([-1.0, 1.0], 3)) @ np.diag(zooms)
    return affine


def build(root, seed=8):
    rng = np.random.default_rng(seed)
    labels0 = base_labels()
    participants, index = [], 0
    for group, rate in GROUP_RATES.items():
        for i in range(12):
            subject = f"{group}{i}"
            participants.append(f"sub-{subject}\t{group}\t{rng.uniform(30, 60):.1f}")
            affine = affine_for(rng)
            dtype, extension = STORAGE[index % len(STORAGE)]
            index += 1
            slope = math.log1p(rate / 100) + rng.normal(0, 0.004)
            order = rng.permutation(np.flatnonzero(labels0))
            n_sessions = 1 if i == 0 else int(rng.integers(2, 5))
            rows = ["session_id\tacq_time"]
            for k in range(n_sessions):
                years = k * 0.5 + rng.uniform(-0.02, 0.02) * (k > 0)
                remove = max(
                    0, round(order.size * (1 - math.exp(-0.01 + slope * years + rng.normal(0, 0.002))))
                )
                labels = labels0.copy().ravel()
                labels[order[:remove]] = 0
                session = f"{k + 1}"
                path = root / "seg" / f"sub-{subject}" / f"ses-{session}" / "anat"
                name = f"sub-{subject}_ses-{session}_desc-blobs_dseg{extension}"
                write_image(path / name, labels.reshape(SHAPE), affine, dtype)
                when = (
                    pd.Timestamp("1925-03-01") + pd.Timedelta(days=365.25 * years) + pd.Timedelta(days=40 * i)
                )
                rows.append(f"ses-{session}\t{when.isoformat()}")
            sessions = root / "bids" / f"sub-{subject}" / f"sub-{subject}_sessions.tsv"
            sessions.parent.mkdir(parents=True)
            sessions.write_text("\n".join(rows) + "\n")
    (root / "bids" / "participants.tsv").write_text(
        "participant_id\tgroup\tage\n" + "\n".join(participants) + "\n"
    )
    table = root / "regions.tsv"
    table.write_text(
        "region\tlabels\n"
        + "".join(f"{name}\t{' '.join(map(str, labels))}\n" for name, labels in REGIONS.items())
    )
    return table


def test_unseen_cohort_volumes_and_rates(tmp_path, lmer):
    table = build(tmp_path)
    out = tmp_path / "out"
    config = cohort_config(
        tmp_path,
        out,
        regions=str(table),
        reference_group="ctrl",
        covariates=["age"],
        segmentation_dir=str(tmp_path / "seg"),
    )
    run_snakemake(*config, cwd=tmp_path)

    volumes = read_frame(out / "group" / "volumes.tsv")
    checked = 0
    for path in sorted((tmp_path / "seg").glob("sub-*/ses-*/anat/*_dseg.nii*")):
        image = nib.load(path)
        data = image.get_fdata()
        voxel = abs(np.linalg.det(image.affine[:3, :3]))
        sub, ses = path.name.split("_")[:2]
        rows = volumes[(volumes["participant_id"] == sub) & (volumes["session_id"] == ses)].set_index(
            "region"
        )
        for region, labels in REGIONS.items():
            expected = np.isin(data, labels).sum() * voxel
            assert rows.loc[region, "volume_mm3"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
            checked += 1
    assert checked == 3 * len(list((tmp_path / "seg").glob("sub-*/ses-*")))

    rates = read_frame(out / "group" / "rates_by_group.tsv")
    differences = read_frame(out / "group" / "group_differences.tsv")
    reference = lmer(
        out / "group" / "volumes.tsv",
        tmp_path / "bids" / "participants.tsv",
        "ctrl",
        ["age"],
        tmp_path / "r.tsv",
    )
    compare_with_lmer(rates, differences, reference)
