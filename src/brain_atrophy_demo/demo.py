"""A demo cohort with planted atrophy, built from a real label image.

The image is the IBSR label atlas (FreeSurfer codes, 1 mm, 161×197×161) shipped inside the
``deepmriprep==0.3.0`` wheel on PyPI; the wheel is downloaded (not installed) and only that
member is read. Every subject gets its own head size (the voxel size is scaled), orientation,
storage type and atrophy rates; each session relabels boundary voxels of the planted regions
to CSF so that region volumes follow exp(slope·years + noise). The planted truth is written
beside the data.

    python -m brain_atrophy_demo OUT_DIR [--groups HC=44,OCR=59,IFN=30] [--seed 2023]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from brain_atrophy import paths
from brain_atrophy.tables import write_rows

ATLAS_WHEEL = "deepmriprep==0.3.0"
ATLAS_MEMBER = "deepmriprep/data/templates/ibsr.nii.gz"
ATLAS_SHA256 = "45c5ece8888340596dec095459bac19ca3dca6e92844c9276b6c10bb2834782e"
CSF = 24
VISIT_WEEKS = (0, 24, 48, 96)
DEFAULT_GROUPS = {"HC": 44, "OCR": 59, "IFN": 30}
GROUP_NAMES = {
    "HC": "healthy controls",
    "OCR": "relapsing MS treated with ocrelizumab",
    "IFN": "relapsing MS treated with interferon beta",
}

# Labels eroded per planted tissue, and which regions of the freesurfer preset they make up.
TISSUES = {
    "white_matter": (2, 41),
    "cortical_gray_matter": (3, 42),
    "thalamus": (10, 49),
    "cerebellum": (7, 8, 46, 47),
}
WHOLE_BRAIN = (2, 3, 7, 8, 10, 11, 12, 13, 16, 17, 18, 26, 28, 41, 42, 46, 47, 49, 50, 51, 52, 53, 54, 58, 60)
# Population mean rates (%/yr) per group, of the order Kolind et al. 2023 and the literature
# report: healthy ≈ 0.1–0.3 %/yr whole-brain loss, treated MS higher, interferon higher still.
PLANTED_RATES = {
    "HC": {"white_matter": -0.15, "cortical_gray_matter": -0.30, "thalamus": -0.35, "cerebellum": -0.15},
    "OCR": {"white_matter": -0.25, "cortical_gray_matter": -0.40, "thalamus": -0.60, "cerebellum": -0.30},
    "IFN": {"white_matter": -0.45, "cortical_gray_matter": -0.65, "thalamus": -1.00, "cerebellum": -0.50},
}
RATE_SD = 0.12  # between-subject SD of the annual log slope, in % (random slopes)
NOISE_SD = 0.25  # measurement noise of ln(volume) per session, in %
RESERVE = 0.02  # fraction removed at "time 0" so that noise can move volumes either way
STORAGE = ("uint8", "int16", "int32", "float32")


def fetch_atlas(cache_dir) -> Path:
    """The IBSR label image, extracted from the PyPI wheel into ``cache_dir`` (once)."""
    cache_dir = Path(cache_dir)
    target = cache_dir / "ibsr.nii.gz"
    if target.is_file() and _sha256(target) == ATLAS_SHA256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", ATLAS_WHEEL, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("deepmriprep-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            target.write_bytes(archive.read(ATLAS_MEMBER))
    if _sha256(target) != ATLAS_SHA256:
        raise RuntimeError(f"{target}: unexpected content (sha256 differs from the known atlas)")
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def erosion_priority(labels: np.ndarray, tissue: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Voxel indices of a tissue and their depth (distance to the tissue's boundary)."""
    mask = np.isin(labels, tissue)
    depth = ndimage.distance_transform_edt(mask)
    index = np.flatnonzero(mask)
    return index, depth.ravel()[index]


def subject_affine(rng, head_scale: float) -> np.ndarray:
    """Voxel size from head size (volume ∝ head_scale), random flips and a small rotation."""
    zooms = head_scale ** (1 / 3) * (1 + rng.normal(0, 0.01, 3))
    angle = rng.normal(0, 0.05)
    rotation = np.array(
        [[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]]
    )
    flips = np.diag(rng.choice([-1.0, 1.0], 3))
    affine = np.eye(4)
    affine[:3, :3] = rotation @ flips @ np.diag(zooms)
    affine[:3, 3] = rng.normal(0, 5, 3) - affine[:3, :3] @ np.array([80, 98, 80])
    return affine


def planted_log_slope(group: str, tissue: str, rng) -> float:
    """A subject's annual log slope: the group's rate plus its own deviation."""
    return math.log1p(PLANTED_RATES[group][tissue] / 100) + rng.normal(0, RATE_SD / 100)


def _ols_slope(t, y) -> float:
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    return float(np.dot(t - t.mean(), y - y.mean()) / np.dot(t - t.mean(), t - t.mean()))


def write_tsv(path, rows: list[dict]) -> None:
    write_rows(path, list(rows[0]), rows)


def build_demo(
    out_dir,
    atlas_path,
    groups: dict[str, int] | None = None,
    seed: int = 2023,
    enrolment_days: int = 700,
    upgrade: ScannerUpgrade | None = None,
) -> dict:
    """Write bids/ (participants, sessions), segmentation/ (dseg images) and truth/ under out_dir.

    Subjects enrol over ``enrolment_days`` from 2019-01-01. With ``upgrade``, sessions from its
    date on are scanned on the upgraded scanner, which reads every planted tissue smaller by
    ``upgrade.step`` (a fraction, e.g. -0.02); the T1w sidecars in bids/ say which scanner.
    """
    groups = groups or DEFAULT_GROUPS
    out = Path(out_dir)
    bids_dir, seg_dir, truth_dir = out / "bids", out / "derivatives" / "segmentation", out / "truth"
    rng = np.random.default_rng(seed)
    atlas = np.asarray(nib.load(atlas_path).dataobj).astype(np.uint8)
    flat_atlas = atlas.ravel()
    tissues = {name: erosion_priority(atlas, labels) for name, labels in TISSUES.items()}
    untouched = int(np.isin(flat_atlas, WHOLE_BRAIN).sum()) - sum(len(i) for i, _ in tissues.values())
    participants, subject_truth, n_sessions = [], [], 0
    for group, count in groups.items():
        for number in range(1, count + 1):
            subject = f"{group}{number:02d}"
            head_scale = float(np.clip(rng.normal(1.0, 0.08), 0.75, 1.3))
            affine = subject_affine(rng, head_scale)
            voxel_mm3 = abs(np.linalg.det(affine[:3, :3]))
            dtype = STORAGE[rng.integers(len(STORAGE))]
            participants.append(
                {
                    "participant_id": paths.participant_id(subject),
                    "group": group,
                    "age": round(float(rng.uniform(20, 55)), 1),
                    "sex": str(rng.choice(["F", "M"])),
                }
            )
            slopes = {tissue: planted_log_slope(group, tissue, rng) for tissue in TISSUES}
            # baseline only for a few; later visits sometimes missed
            weeks = [w for w in VISIT_WEEKS if w == 0 or rng.random() > 0.1]
            if rng.random() < 0.03:
                weeks = [0]
            first_day = date(2019, 1, 1) + timedelta(days=int(rng.integers(0, enrolment_days)))
            days = [7 * w + (int(rng.integers(-5, 6)) if w else 0) for w in weeks]
            years = np.array(days) / 365.25
            upgraded = [bool(upgrade) and first_day + timedelta(days=d) >= upgrade.date for d in days]
            step = math.log1p(upgrade.step) if upgrade and any(upgraded) else 0.0
            order = {}
            for tissue, (index, depth) in tissues.items():
                # peel from the boundary inwards; the jitter makes each subject's peel its own
                lowest = min(0.0, slopes[tissue] * years.max()) + min(0.0, step)
                removal = 1 - math.exp(-RESERVE + lowest - 4 * NOISE_SD / 100)
                k_max = min(len(index), int(len(index) * removal) + 64)
                priority = depth + rng.uniform(0, 1.0, depth.size)
                nearest = np.argpartition(priority, k_max - 1)[:k_max]
                order[tissue] = index[nearest[np.argsort(priority[nearest], kind="stable")]]
            session_rows = []
            for week, day, t, on_new in zip(weeks, days, years, upgraded, strict=True):
                session = f"w{week:02d}"
                labels = flat_atlas.copy()
                for tissue, (index, _) in tissues.items():
                    noise = rng.normal(0, NOISE_SD / 100)
                    fraction = math.exp(-RESERVE + slopes[tissue] * t + noise + (step if on_new else 0.0))
                    k = min(len(order[tissue]), max(0, round(len(index) * (1 - fraction))))
                    labels[order[tissue][:k]] = CSF
                image = nib.Nifti1Image(labels.reshape(atlas.shape).astype(dtype), affine)
                image.header.set_xyzt_units("mm", "sec")
                path = Path(paths.anat_file(seg_dir, subject, session, "dseg", ".nii.gz"))
                path.parent.mkdir(parents=True, exist_ok=True)
                nib.save(image, path)
                acq = first_day + timedelta(days=day)
                session_rows.append(
                    {"session_id": paths.session_id(session), "acq_time": f"{acq.isoformat()}T09:00:00"}
                )
                if upgrade:
                    write_scanner_sidecar(bids_dir, subject, session, upgrade, on_new)
                n_sessions += 1
            write_tsv(paths.sessions_table(bids_dir, subject), session_rows)
            grid = np.array(VISIT_WEEKS) * 7 / 365.25
            expected = {
                tissue: len(tissues[tissue][0]) * np.exp(-RESERVE + slopes[tissue] * grid)
                for tissue in TISSUES
            }
            expected["whole_brain"] = untouched + sum(expected[t] for t in TISSUES)
            for region, trajectory in expected.items():
                subject_truth.append(
                    {
                        "participant_id": paths.participant_id(subject),
                        "group": group,
                        "region": region,
                        "planted_log_slope": _ols_slope(grid, np.log(trajectory)),
                        "planted_rate_pct_per_year": 100 * math.expm1(_ols_slope(grid, np.log(trajectory))),
                        "head_scale": head_scale,
                        "voxel_volume_mm3": voxel_mm3,
                        "storage": dtype,
                    }
                )
    write_tsv(bids_dir / "participants.tsv", participants)
    write_metadata(bids_dir, seg_dir, groups)
    (bids_dir / "dataset_description.json").write_text(
        json.dumps(
            {"Name": "brain-atrophy demo cohort", "BIDSVersion": "1.9.0", "DatasetType": "raw"}, indent=2
        )
    )
    (seg_dir / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": "demo segmentations (IBSR atlas with planted atrophy)",
                "BIDSVersion": "1.9.0",
                "DatasetType": "derivative",
                "GeneratedBy": [
                    {
                        "Name": "brain_atrophy_demo.demo",
                        "Description": f"from {ATLAS_MEMBER} in {ATLAS_WHEEL}",
                    }
                ],
            },
            indent=2,
        )
    )
    write_tsv(truth_dir / "subjects.tsv", subject_truth)
    write_tsv(truth_dir / "groups.tsv", group_truth(subject_truth))
    if upgrade:
        write_scanner_truth(bids_dir, truth_dir, upgrade, tissues, untouched)
    return {"subjects": len(participants), "sessions": n_sessions, "out_dir": str(out)}


@dataclass(frozen=True)
class ScannerUpgrade:
    """A mid-study upgrade: from ``date`` on, the scanner runs ``new_software`` and reads every
    planted tissue smaller by the fraction ``-step``."""

    date: date
    step: float = -0.02
    old_software: str = "syngo MR E11"
    new_software: str = "syngo MR XA30"


# What every session's scanner has in common: one dataset-level sidecar (BIDS inheritance).
SCANNER = {"Manufacturer": "Siemens", "ManufacturersModelName": "Skyra", "MagneticFieldStrength": 3}


def write_scanner_sidecar(bids_dir: Path, subject: str, session: str, upgrade, upgraded: bool) -> None:
    """The session's T1w sidecar: only what differs from the dataset-level T1w.json."""
    sidecar = Path(paths.anat_file(bids_dir, subject, session, "T1w", ".json"))
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    software = upgrade.new_software if upgraded else upgrade.old_software
    sidecar.write_text(json.dumps({"SoftwareVersions": software}))


def write_scanner_truth(bids_dir: Path, truth_dir: Path, upgrade, tissues, untouched: int) -> None:
    """The dataset-level sidecar, and the planted step per region (truth/scanner.tsv): exactly the
    step for a planted tissue; for the whole brain, diluted by its labels that never change
    (at the reserve's volume, the first sessions')."""
    (bids_dir / "T1w.json").write_text(json.dumps(SCANNER, indent=2))
    step = math.log1p(upgrade.step)
    kept = {tissue: len(index) * math.exp(-RESERVE) for tissue, (index, _) in tissues.items()}
    before = untouched + sum(kept.values())
    after = untouched + sum(kept.values()) * math.exp(step)
    rows = [{"region": tissue, "planted_step_pct": 100 * upgrade.step} for tissue in TISSUES]
    rows.append({"region": "whole_brain", "planted_step_pct": 100 * (after / before - 1)})
    write_tsv(truth_dir / "scanner.tsv", rows)


def write_metadata(bids_dir: Path, seg_dir: Path, groups) -> None:
    """What the BIDS validator looks for beyond the data: the participants.tsv columns that
    BIDS does not define, described in participants.json, and a README for each dataset."""
    columns = {
        "group": {
            "Description": "Study group",
            "Levels": {group: GROUP_NAMES[group] for group in groups},
        },
        "age": {"Description": "Age at the first session (simulated)", "Units": "year"},
        "sex": {"Description": "Sex (simulated)", "Levels": {"F": "female", "M": "male"}},
    }
    (bids_dir / "participants.json").write_text(json.dumps(columns, indent=2) + "\n")
    about = (
        "Generated by `python -m brain_atrophy_demo` from the IBSR label atlas "
        f"({ATLAS_MEMBER} in {ATLAS_WHEEL})."
    )
    (bids_dir / "README.md").write_text(
        "# brain-atrophy demo cohort\n\nParticipants and session dates of a simulated longitudinal "
        f"study; the label images are in the segmentation derivatives.\n{about}\n"
    )
    (seg_dir / "README.md").write_text(
        "# Demo segmentations\n\nOne label image (FreeSurfer codes) per session, with atrophy planted "
        f"by relabelling boundary voxels to CSF.\n{about}\n"
    )


def group_truth(subject_truth: list[dict]) -> list[dict]:
    """Per group and region: the population rate planted and the mean of the subjects' slopes."""
    rows = []
    keys = dict.fromkeys((r["group"], r["region"]) for r in subject_truth)
    for group, region in keys:
        slopes = [
            r["planted_log_slope"] for r in subject_truth if (r["group"], r["region"]) == (group, region)
        ]
        rows.append(
            {
                "group": group,
                "region": region,
                "population_rate_pct_per_year": PLANTED_RATES[group].get(region, "n/a"),
                "sample_mean_rate_pct_per_year": 100 * math.expm1(float(np.mean(slopes))),
                "n_subjects": len(slopes),
            }
        )
    return rows


def parse_groups(text: str) -> dict[str, int]:
    groups = {}
    for item in text.split(","):
        name, _, count = item.partition("=")
        if name not in PLANTED_RATES:
            raise argparse.ArgumentTypeError(f"unknown group '{name}' (known: {', '.join(PLANTED_RATES)})")
        groups[name] = int(count)
    return groups


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir")
    parser.add_argument("--groups", type=parse_groups, default=DEFAULT_GROUPS)
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--atlas", help="the IBSR label image (default: fetched from PyPI into .cache/)")
    args = parser.parse_args(argv)
    atlas = args.atlas or fetch_atlas(Path(".cache"))
    summary = build_demo(args.out_dir, atlas, args.groups, args.seed)
    print(
        f"demo cohort: {summary['subjects']} subjects, {summary['sessions']} sessions in {summary['out_dir']}"
    )


if __name__ == "__main__":
    main()
