"""Throughput of a full local run against the decompression floor, side by side in one run.

Builds a cohort of N subjects × 3 sessions from the demo's real 161×197×161 label maps (hard
links: no disk, no build time), then measures, on the same files in the same run:

- the floor: one Python process on each of the 2 cores decompresses every image (isal, as the
  pipeline does) and histograms every voxel with np.bincount, half the files each;
- the pipeline: `snakemake` from scratch to every output (subject jobs, one Python process
  each, group statistics, figures, QC, report page), with the default local profile
  (profiles/large-cohort for the 10,000-session line);

Prints each pipeline run, the floor, their ratio (median of the repeats), and where the
pipeline's time went: start-up (until the first subject job ends), the subject jobs, and the
group steps, from the logs' times, and the Snakemake process's peak memory; and Snakemake's
own start-up (`snakemake --version`).

    python benchmarks/throughput.py --demo-dir demo [--subjects 1040] [--repeats 3]
    python benchmarks/throughput.py --demo-dir demo --large   # also one run of 10,000 sessions
"""

from __future__ import annotations

import argparse
import gzip
import io
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from brain_atrophy import paths  # noqa: E402

VISITS = ("w0", "w48", "w96")


def build(root: Path, demo: Path, n_subjects: int) -> list[Path]:
    """The cohort's BIDS tables and hard-linked label images; returns the images."""
    sources = itertools.cycle(sorted((demo / "derivatives" / "segmentation").rglob("*_dseg.nii.gz")))
    groups = ["HC", "OCR", "IFN"]
    participants = ["participant_id\tgroup"]
    images = []
    for s in range(n_subjects):
        subject = f"T{s:05d}"
        participants.append(f"{paths.participant_id(subject)}\t{groups[s % 3]}")
        rows = ["session_id\tacq_time"]
        for k, session in enumerate(VISITS):
            name = f"{paths.participant_id(subject)}_{paths.session_id(session)}_dseg.nii.gz"
            image = Path(paths.session_dir(root / "seg", subject, session)) / "anat" / name
            image.parent.mkdir(parents=True)
            os.link(next(sources), image)
            images.append(image)
            rows.append(f"{paths.session_id(session)}\t{2020 + k}-0{1 + k}-15T09:00:00")
        table = Path(paths.sessions_table(root / "bids", subject))
        table.parent.mkdir(parents=True)
        table.write_text("\n".join(rows) + "\n")
    (root / "bids" / "participants.tsv").write_text("\n".join(participants) + "\n")
    (root / "config.yaml").write_text(
        "bids_dir: bids\nsegmentation_dir: seg\nregions: freesurfer\nreference_group: HC\noutput_dir: out\n"
    )
    return images


def count_labels(image_paths: list[str], labelled_only: bool = False) -> int:
    """Decompress and count every label of each image, as fast as plain numpy goes: the work
    that measuring a volume cannot avoid. The gzip stream is inflated by the fastest decoder
    installed (isal, as the pipeline uses), the header read by nibabel from the inflated bytes.
    ``labelled_only`` histograms only the non-zero voxels, as the pipeline does."""
    import nibabel as nib

    try:
        from isal.isal_zlib import decompress as inflate
    except ImportError:
        inflate = None
    total = 0
    for path in image_paths:
        data = Path(path).read_bytes()
        raw = inflate(data, 31) if inflate else gzip.decompress(data)  # wbits 31: a gzip member
        header = nib.Nifti1Header.from_fileobj(io.BytesIO(raw[:352]))
        offset, dtype = max(int(header["vox_offset"]), 352), header.get_data_dtype()
        voxels = np.frombuffer(raw, dtype=dtype, offset=offset)
        if labelled_only:
            voxels = voxels[voxels != 0]
        total += int(np.bincount(voxels.astype(np.int64, copy=False)).size)
    return total


def floor_seconds(images: list[Path], labelled_only: bool = False, cores: int = 2) -> float:
    chunks = [[str(p) for p in images[k::cores]] for k in range(cores)]
    start = time.perf_counter()
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(count_labels, chunks, [labelled_only] * cores))
    return time.perf_counter() - start


def snakemake_command(profile: str, *extra: str) -> list[str]:
    command = ["snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2", *extra]
    return [*command, "--configfile", "config.yaml", "--workflow-profile", str(REPO / "profiles" / profile)]


def peak_memory_mb(pid: int, done: threading.Event, peak: list[float]) -> None:
    """The process's own peak resident memory (VmHWM, its children's apart), read until it ends."""
    status = Path(f"/proc/{pid}/status")
    while not done.wait(0.5):
        try:
            line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
        except (OSError, StopIteration):
            return
        peak[0] = int(line.split()[1]) / 1024


def pipeline_seconds(root: Path, profile: str, *extra: str) -> tuple[float, dict[str, float]]:
    """Wall time of a run from scratch, its phases from the logs' modification times, and the
    Snakemake process's peak memory (where the subject jobs of a local run now run)."""
    shutil.rmtree(root / "out", ignore_errors=True)
    shutil.rmtree(root / ".snakemake", ignore_errors=True)
    start_epoch, start = time.time(), time.perf_counter()
    with open(root / "snakemake.out", "w+") as output:
        command = [*snakemake_command(profile, *extra), "-q"]
        process = subprocess.Popen(command, cwd=root, stdout=output, stderr=output)
        done, peak = threading.Event(), [float("nan")]
        watcher = threading.Thread(target=peak_memory_mb, args=(process.pid, done, peak))
        watcher.start()
        returncode = process.wait()
        seconds = time.perf_counter() - start
        done.set()
        watcher.join()
        if returncode != 0:
            output.seek(0)
            raise SystemExit(output.read()[-3000:])
    subject_logs = sorted(p.stat().st_mtime for p in (root / "out" / "logs" / "subject_volumes").iterdir())
    phases = {
        "start-up, to the first subject job's end": subject_logs[0] - start_epoch,
        "subject jobs": subject_logs[-1] - subject_logs[0],
        "group steps and exit": start_epoch + seconds - subject_logs[-1],
        "peak memory of the Snakemake process (MB)": peak[0],
    }
    return seconds, phases


def startup_seconds() -> float:
    """What every `snakemake` command costs before it reads a workflow."""
    start = time.perf_counter()
    subprocess.run(["snakemake", "--version"], capture_output=True, check=True)
    return time.perf_counter() - start


def measure(demo: Path, n_subjects: int, repeats: int, profile: str, compare: bool = True) -> None:
    (REPO / ".cache").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=REPO / ".cache") as tmp:
        root = Path(tmp)
        images = build(root, demo, n_subjects)
        floors, runs, breakdowns = [], [], []
        for _ in range(repeats):  # interleaved, so both see the same machine
            floors.append(floor_seconds(images))
            seconds, phases = pipeline_seconds(root, profile)
            runs.append(seconds)
            breakdowns.append(phases)
        labelled_floor = floor_seconds(images, labelled_only=True) if compare else None
    floor, run = statistics.median(floors), statistics.median(runs)
    median_run = breakdowns[runs.index(run)] if run in runs else breakdowns[0]
    print(
        f"full local run, {len(images)} sessions ({n_subjects} subjects), 2 cores, profiles/{profile}, "
        f"median of {repeats}:"
    )
    print(f"  pipeline from scratch: {run:.1f} s  (runs: {', '.join(f'{r:.1f}' for r in runs)})")
    for name, value in median_run.items():
        print(f"    {name}: {value:.1f}" + ("" if "(MB)" in name else " s"))
    floor_runs = ", ".join(f"{f:.1f}" for f in floors)
    print(f"  floor (decompress + histogram every voxel, 2 processes): {floor:.1f} s  (runs: {floor_runs})")
    print(f"  ratio pipeline / floor: {run / floor:.2f}  (goal <= 3.0)")
    if labelled_floor is not None:
        print(
            f"  for comparison, a floor histogramming only the labelled voxels (as the pipeline does): "
            f"{labelled_floor:.1f} s, ratio {run / labelled_floor:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo-dir", type=Path, default=REPO / "demo")
    parser.add_argument("--subjects", type=int, default=1040)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="also one run of 10,000 sessions")
    args = parser.parse_args()
    demo = args.demo_dir.resolve()
    print(f"snakemake start-up (snakemake --version): {startup_seconds():.1f} s")
    measure(demo, args.subjects, args.repeats, "default")
    if args.large:
        measure(demo, -(-10_000 // len(VISITS)), 1, "large-cohort", compare=False)
        print("  goal: <= 10 min for 10,000 sessions")


if __name__ == "__main__":
    main()
