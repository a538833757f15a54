"""A demo cohort with planted atrophy, built from a real label image.

The image is the IBSR label atlas (FreeSurfer codes, 1 mm, 161×197×161) shipped inside the
``deepmriprep==0.3.0`` wheel on PyPI; the wheel is downloaded (not installed) and only that
member is read. Every subject gets its own head size (the voxel size is scaled), orientation,
storage type and atrophy rates; each session relabels boundary voxels of the planted regions
to CSF so that region volumes follow exp(slope·years + noise). The planted truth is written
beside the data (truth/README.md says what each file holds).

Like the OPERA II MRI substudy (Kolind et al. 2023), controls are scanned at weeks 0, 48 and 96
and the treated groups at weeks 0, 24, 48 and 96. The treated groups also lose apparent volume
in their first 24 weeks (pseudo-atrophy, mostly white matter): a step on top of the slope, so
the planted rates are the slopes from week 24 on.

    python -m brain_atrophy_demo OUT_DIR [--groups HC=44,OCR=59,IFN=30] [--seed 2023]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
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
# The brain-extracted 0.5 mm T1 template in the atlas's world space (brain_atrophy_demo.deform).
TEMPLATE_MEMBER = "deepmriprep/data/templates/Template_05mm_bet.nii.gz"
TEMPLATE_SHA256 = "7d96889867d29803021a276ba54c0225534266730c5f5348a1ea78ee2d6e62c1"
# Every member read from the wheel, with its content's sha256: one download extracts them all.
WHEEL_MEMBERS = {ATLAS_MEMBER: ATLAS_SHA256, TEMPLATE_MEMBER: TEMPLATE_SHA256}
CSF = 24
# Scheduled visits (weeks on study) per group, as in the OPERA II MRI substudy: controls were
# not scanned at week 24 (Kolind et al., NeuroImage Clin 2022; Mult Scler 2023).
VISIT_WEEKS = {"HC": (0, 48, 96), "OCR": (0, 24, 48, 96), "IFN": (0, 24, 48, 96)}
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
# Pseudo-atrophy: the extra apparent loss (%) over the first PSEUDO_ATROPHY_WEEKS on therapy,
# planted as a step in every session from that visit on. Illustrative values (truth/README.md
# gives the sources): largest in white matter; interferon about half of ocrelizumab. In this
# atlas white matter is 30 % and cortical gray matter 53 % of the whole-brain labels, so these
# give the whole brain about -0.55 % (OCR), the -0.5 to -0.6 % described for OPERA's weeks 0-24.
PSEUDO_ATROPHY_WEEKS = 24
PSEUDO_ATROPHY_PCT = {
    "OCR": {"white_matter": -1.2, "cortical_gray_matter": -0.3, "thalamus": -0.3, "cerebellum": -0.2},
    "IFN": {"white_matter": -0.6, "cortical_gray_matter": -0.15, "thalamus": -0.15, "cerebellum": -0.1},
}
RATE_SD = 0.12  # between-subject SD of the annual log slope, in % (random slopes)
NOISE_SD = 0.25  # measurement noise of ln(volume) per session, in %
RESERVE = 0.02  # fraction removed at "time 0" so that noise can move volumes either way
STORAGE = ("uint8", "int16", "int32", "float32")


def fetch_atlas(cache_dir) -> Path:
    """The IBSR label image, extracted from the PyPI wheel into ``cache_dir`` (once)."""
    return fetch_member(cache_dir, ATLAS_MEMBER, ATLAS_SHA256)


def fetch_member(cache_dir, member: str, sha256: str, wheel: str = ATLAS_WHEEL) -> Path:
    """The file ``member`` (content ``sha256``) of the PyPI ``wheel``, extracted into ``cache_dir``
    under its base name (once); a download of ATLAS_WHEEL also extracts the other WHEEL_MEMBERS
    not yet cached."""
    cache_dir = Path(cache_dir)
    target = cache_dir / Path(member).name
    if target.is_file() and _sha256(target) == sha256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", wheel, "-d", tmp],
            check=True,
        )
        members = {**WHEEL_MEMBERS, member: sha256} if wheel == ATLAS_WHEEL else {member: sha256}
        with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as archive:
            for name, digest in members.items():
                path = cache_dir / Path(name).name
                if name == member or not (path.is_file() and _sha256(path) == digest):
                    # written beside and renamed: a concurrent reader sees the old file or the new
                    partial = path.with_name(f".{path.name}.{os.getpid()}")
                    partial.write_bytes(archive.read(name))
                    os.replace(partial, path)
    if _sha256(target) != sha256:
        raise RuntimeError(f"{target}: unexpected content (sha256 differs from the known {member})")
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


def pseudo_atrophy_steps(group: str, planted: dict) -> dict[str, float]:
    """The group's pseudo-atrophy per tissue as a step in ln(volume), from ``planted`` (group →
    tissue → %; 0 for a group it does not list)."""
    return {tissue: math.log1p(planted.get(group, {}).get(tissue, 0.0) / 100) for tissue in TISSUES}


def analysed_weeks(group: str, planted: dict) -> tuple[int, ...]:
    """The group's scheduled visits that the study's analysis keeps: from the end of the
    pseudo-atrophy on for a group with pseudo-atrophy planted, every visit for the others."""
    start = PSEUDO_ATROPHY_WEEKS if group in planted else 0
    return tuple(w for w in VISIT_WEEKS[group] if w >= start)


def whole_brain_step_pct(kept: dict[str, float], untouched: int, steps: dict[str, float]) -> float:
    """A step of every planted tissue, as seen in the whole brain: diluted by the labels that
    never change (at the tissues' ``kept`` volumes)."""
    before = untouched + sum(kept.values())
    after = untouched + sum(kept[tissue] * math.exp(steps[tissue]) for tissue in kept)
    return 100 * (after / before - 1)


def _ols_slope(t, y) -> float:
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    return float(np.dot(t - t.mean(), y - y.mean()) / np.dot(t - t.mean(), t - t.mean()))


def study_folders(out_dir) -> tuple[Path, Path, Path]:
    """A built study's raw BIDS folder, segmentation derivatives and planted truth."""
    out = Path(out_dir)
    return out / "bids", out / "derivatives" / "segmentation", out / "truth"


def study_config(study_dir, output_dir) -> dict:
    """The config that runs the pipeline on a built study: its BIDS folder and segmentation,
    the FreeSurfer region table, the healthy controls as the reference group."""
    bids_dir, seg_dir, _ = study_folders(study_dir)
    return {"bids_dir": str(bids_dir), "segmentation_dir": str(seg_dir), "regions": "freesurfer",
            "reference_group": "HC", "output_dir": str(output_dir)}  # fmt: skip


def write_tsv(path, rows: list[dict]) -> None:
    write_rows(path, list(rows[0]), rows)


def build_demo(
    out_dir,
    atlas_path,
    groups: dict[str, int] | None = None,
    seed: int = 2023,
    enrolment_days: int = 700,
    upgrade: ScannerUpgrade | None = None,
    pseudo_atrophy: bool = True,
) -> dict:
    """Write bids/ (participants, sessions), segmentation/ (dseg images) and truth/ under out_dir.

    Subjects enrol over ``enrolment_days`` from 2019-01-01. With ``upgrade``, sessions from its
    date on are scanned on the upgraded scanner, which reads every planted tissue smaller by
    ``upgrade.step`` (a fraction, e.g. -0.02); the T1w sidecars in bids/ say which scanner.
    Without ``pseudo_atrophy`` the treated groups get no pseudo-atrophy step (for tests of
    something else); their planted rates then hold from week 0.
    """
    groups = groups or DEFAULT_GROUPS
    planted_pseudo = PSEUDO_ATROPHY_PCT if pseudo_atrophy else {}
    out = Path(out_dir)
    bids_dir, seg_dir, truth_dir = study_folders(out)
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
            pseudo = pseudo_atrophy_steps(group, planted_pseudo)
            # baseline only for a few; later visits sometimes missed
            weeks = [w for w in VISIT_WEEKS[group] if w == 0 or rng.random() > 0.1]
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
                lowest = min(0.0, slopes[tissue] * years.max()) + min(0.0, step) + pseudo[tissue]
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
                    shift = (step if on_new else 0.0) + (
                        pseudo[tissue] if week >= PSEUDO_ATROPHY_WEEKS else 0.0
                    )
                    fraction = math.exp(-RESERVE + slopes[tissue] * t + noise + shift)
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
            # the planted rate is the slope over the visits the study analyses (from week 24 on
            # for the treated groups, past the pseudo-atrophy step); for a tissue it is its slope
            grid = np.array(analysed_weeks(group, planted_pseudo)) * 7 / 365.25
            kept = {tissue: len(tissues[tissue][0]) * math.exp(-RESERVE) for tissue in TISSUES}
            expected = {
                tissue: kept[tissue] * np.exp(slopes[tissue] * grid + pseudo[tissue]) for tissue in TISSUES
            }
            expected["whole_brain"] = untouched + sum(expected[t] for t in TISSUES)
            pseudo_pct = {tissue: 100 * math.expm1(pseudo[tissue]) for tissue in TISSUES}
            pseudo_pct["whole_brain"] = whole_brain_step_pct(kept, untouched, pseudo)
            for region, trajectory in expected.items():
                log_slope = _ols_slope(grid, np.log(trajectory))
                subject_truth.append(
                    {
                        "participant_id": paths.participant_id(subject),
                        "group": group,
                        "region": region,
                        "planted_log_slope": log_slope,
                        "planted_rate_pct_per_year": 100 * math.expm1(log_slope),
                        "pseudo_atrophy_pct": pseudo_pct[region],
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
    write_tsv(truth_dir / "groups.tsv", group_truth(subject_truth, planted_pseudo))
    write_pseudo_atrophy_truth(truth_dir, groups, tissues, untouched, planted_pseudo)
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


def group_truth(subject_truth: list[dict], planted_pseudo: dict) -> list[dict]:
    """Per group and region: the population rate planted and the mean of the subjects' slopes
    (both the slopes from ``rate_from_week`` on), the visit schedule and the pseudo-atrophy."""
    rows = []
    keys = dict.fromkeys((r["group"], r["region"]) for r in subject_truth)
    for group, region in keys:
        members = [r for r in subject_truth if (r["group"], r["region"]) == (group, region)]
        slopes = [r["planted_log_slope"] for r in members]
        rows.append(
            {
                "group": group,
                "region": region,
                "population_rate_pct_per_year": PLANTED_RATES[group].get(region, "n/a"),
                "sample_mean_rate_pct_per_year": 100 * math.expm1(float(np.mean(slopes))),
                "n_subjects": len(slopes),
                "visit_weeks": " ".join(map(str, VISIT_WEEKS[group])),
                "rate_from_week": analysed_weeks(group, planted_pseudo)[0],
                "pseudo_atrophy_pct": members[0]["pseudo_atrophy_pct"],  # the same for the group
                "pseudo_atrophy_source": "README.md" if group in planted_pseudo else "none planted",
            }
        )
    return rows


# Where the pseudo-atrophy sizes come from: in short for pseudo_atrophy.tsv, in full (with the
# references) in truth/README.md.
PSEUDO_ATROPHY_SOURCE = (
    "illustrative; guided by OPERA I/II (Hauser et al. 2017) and De Stefano & Arnold 2015; see README.md"
)
PSEUDO_ATROPHY_BASIS = (
    "illustrative values, not estimates from one study: a whole-brain step of about -0.55 % for "
    "ocrelizumab, the size of the weeks 0-24 loss described for OPERA I/II (whose brain-volume "
    "endpoint runs from week 24 to leave it out), mostly in white matter as reviewed by De Stefano "
    "& Arnold (Mult Scler 2015: ~0.5-1 % in the first year of potent anti-inflammatory therapy); "
    "interferon set to half"
)
TRUTH_README = """# Planted truth of the demo cohort

Written by `python -m brain_atrophy_demo` with the data; nothing here is read by the pipeline.

- `subjects.tsv`: per subject and region, the planted slope (`planted_log_slope`, per year, of
  ln volume; `planted_rate_pct_per_year` = 100·(exp(slope) − 1)), the planted pseudo-atrophy step
  (`pseudo_atrophy_pct`), head size, voxel volume and storage type.
- `groups.tsv`: per group and region, the population rate planted
  (`population_rate_pct_per_year`; the whole brain has none of its own, it follows from its
  tissues), the mean of the subjects' planted slopes (`sample_mean_rate_pct_per_year`: what a
  fitted group rate estimates), the scheduled visits (`visit_weeks`), the first week the rates
  apply from (`rate_from_week`) and the pseudo-atrophy step (`pseudo_atrophy_pct`).
- `pseudo_atrophy.tsv`: the pseudo-atrophy planted per group and region, and its source.
- `scanner.tsv` (only with a scanner upgrade): the step planted at the upgrade.

## Visit schedules

As in the OPERA II MRI substudy, healthy controls (HC) are scanned at weeks {hc_weeks} and the
treated groups (OCR, IFN) at weeks {treated_weeks}, each later visit within ±5 days and missed
with probability 0.1 (a few subjects have their baseline only).

## Pseudo-atrophy

{this_draw}The treated groups lose extra apparent volume over their first {weeks} weeks on therapy
(resolution of inflammation and oedema rather than tissue loss): a step between baseline and
week {weeks}, applied to every session from the week-{weeks} visit on, on top of the planted
slope. The planted rates are the slopes, so they are what a model fitted on each treated
subject's sessions from week {weeks} on (re-baselined there) estimates; the demo's
config/config.yaml sets that window for OCR and IFN. Fitted on every session, the treated
groups' rates come out steeper by about the step spread over the follow-up (a least-squares
line through weeks {treated_weeks} reads a step at week {weeks} as {read_as_rate:.2f} × the step per year). A
week-{weeks} visit can fall up to 5 days before week {weeks}: a window from week {weeks} leaves
those sessions out (the rates stay unbiased, on fewer sessions).

The whole-brain step is not planted of its own: it is the tissues' steps diluted by the labels
that never change (white matter is {wm_share:.0%} and cortical gray matter {gm_share:.0%} of this
atlas's whole-brain labels).

The sizes are {source}. Sources:

- Kolind S, Gaetano L, Assemlal HE, et al. Ocrelizumab-treated patients with relapsing multiple
  sclerosis show volume loss rates similar to healthy aging. Mult Scler 2023;29(6):741-747.
  doi:10.1177/13524585231162586 (44 controls and 59 ocrelizumab-treated patients; the group
  sizes and regions of this demo).
- Kolind S, Abel S, Taylor C, et al. Myelin water imaging in relapsing multiple sclerosis
  treated with ocrelizumab and interferon beta-1a. NeuroImage Clin 2022 (the same OPERA II
  substudy: patients at weeks 0, 24, 48, 96; controls at weeks 0, 48, 96).
- Hauser SL, Bar-Or A, Comi G, et al. Ocrelizumab versus interferon beta-1a in relapsing
  multiple sclerosis. N Engl J Med 2017;376:221-234 (OPERA I/II; the brain-volume endpoint is
  the change from week 24 to week 96).
- De Stefano N, Arnold DL. Towards a better understanding of pseudoatrophy in the brain of
  multiple sclerosis patients. Mult Scler 2015.
- Brain volume loss in the first years of natalizumab, Mult Scler 2016,
  doi:10.1177/1352458516656808 (first-year losses of about 1 % in the brain, white matter and
  gray matter fractions; in the second year white matter only).
- Dwyer MG, Zivadinov R, Tao Y, et al. BMC Neurol 2015 (interferon beta-1a 44 µg s.c.: whole
  brain -0.95 % and gray matter -1.5 % over the first 3 months; so the evidence for a smaller
  interferon effect, and for white matter carrying most of it, is mixed: both are choices made
  for the demo).
"""


def write_pseudo_atrophy_truth(truth_dir: Path, groups, tissues, untouched: int, planted: dict) -> None:
    """truth/pseudo_atrophy.tsv (the step per group and region) and truth/README.md."""
    kept = {tissue: len(index) * math.exp(-RESERVE) for tissue, (index, _) in tissues.items()}
    rows = []
    for group in groups:
        if group not in planted:
            continue
        steps = pseudo_atrophy_steps(group, planted)
        values = {tissue: planted[group][tissue] for tissue in TISSUES}
        values["whole_brain"] = whole_brain_step_pct(kept, untouched, steps)
        for region, pct in values.items():
            rows.append(
                {
                    "group": group,
                    "region": region,
                    "planted_step_pct": pct,
                    "from_week": 0,
                    "to_week": PSEUDO_ATROPHY_WEEKS,
                    "basis": "planted" if region in TISSUES else "from the tissues' steps",
                    "source": PSEUDO_ATROPHY_SOURCE,
                }
            )
    header = ["group", "region", "planted_step_pct", "from_week", "to_week", "basis", "source"]
    treated_weeks = np.array(VISIT_WEEKS["OCR"])
    whole_brain_voxels = untouched + sum(len(index) for index, _ in tissues.values())
    write_rows(truth_dir / "pseudo_atrophy.tsv", header, rows)
    (truth_dir / "README.md").write_text(
        TRUTH_README.format(
            hc_weeks=", ".join(map(str, VISIT_WEEKS["HC"])),
            treated_weeks=", ".join(map(str, VISIT_WEEKS["OCR"])),
            weeks=PSEUDO_ATROPHY_WEEKS,
            wm_share=len(tissues["white_matter"][0]) / whole_brain_voxels,
            gm_share=len(tissues["cortical_gray_matter"][0]) / whole_brain_voxels,
            read_as_rate=_ols_slope(treated_weeks * 7 / 365.25, treated_weeks >= PSEUDO_ATROPHY_WEEKS),
            source=PSEUDO_ATROPHY_BASIS,
            this_draw=""
            if planted
            else "Not planted in this draw (built with `pseudo_atrophy=False`): every group's rates "
            "hold from week 0. What follows describes the default demo.\n\n",
        )
    )


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
