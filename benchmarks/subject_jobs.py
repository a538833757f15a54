"""A subject job's cost as the pipeline runs it (a process per subject) against the same work
inside one process, side by side.

The demo's subjects (real 161×197×161 label maps, ~3.7 sessions each) measured by the
package's subject job, without Snakemake, in one run:

- as processes: `python -m brain_atrophy.measure.job`, two at a time (rule subject_volumes,
  under every executor);
- in one process: the job's measure() on the same arguments, one thread, then two threads
  (what a process per subject pays over it: the interpreter and imports per subject);

where one job's time goes (cProfile, cumulative time of the steps), and how np.bincount (the
count) scales from one thread to two: it holds Python's global lock.

    python benchmarks/subject_jobs.py [--demo-dir demo] [--subjects 100]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from common import REPO

from brain_atrophy import paths
from brain_atrophy.measure.job import measure, parse_arguments

# The steps of a subject job, as (label, module file, function) in cProfile's statistics.
STEPS = [
    ("read and inflate", "images.py", "read_image"),
    ("count and sum regions", "subject.py", "session_volumes"),
    ("QC mosaic slices", "mosaic.py", "session_row"),
    ("QC mosaic drawing", "mosaic.py", "draw_mosaic"),
    ("tables", "tables.py", "write_rows"),
]


def run_in_process(arguments: list[str]) -> None:
    """One subject job's work in this process, without its log file."""
    measure(parse_arguments(arguments[: arguments.index("--log")]))


def subject_arguments(demo: Path, out: Path, limit: int) -> list[list[str]]:
    """The subject job's arguments for the first ``limit`` demo subjects."""
    segmentation = demo / "derivatives" / "segmentation"
    jobs = []
    for folder in sorted(segmentation.glob("sub-*"))[:limit]:
        subject = folder.name[len("sub-") :]
        arguments = ["--subject", subject, "--regions", str(REPO / "config" / "regions" / "freesurfer.tsv")]
        for image in sorted(folder.glob("ses-*/anat/*_dseg.nii.gz")):
            arguments += ["--image", image.parent.parent.name[len("ses-") :], str(image)]
        output = paths.subject_output(out, subject)
        jobs.append(arguments + ["--output", output, "--log", f"{output}.log"])
    return jobs


def in_threads(jobs: list[list[str]], threads: int) -> tuple[float, float]:
    """Wall and CPU seconds of every job in ``threads`` threads of this process."""
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run_in_process, jobs))
    return time.perf_counter() - start, time.process_time() - cpu


def as_processes(jobs: list[list[str]], at_once: int) -> float:
    """Wall seconds of every job as its own `python -m brain_atrophy.measure.job`."""

    def one(arguments):
        command = [sys.executable, "-m", "brain_atrophy.measure.job", *arguments]
        subprocess.run(command, check=True, capture_output=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(one, jobs))
    return time.perf_counter() - start


def profile_steps(jobs: list[list[str]]) -> dict[str, float]:
    """Cumulative seconds of each step over ``jobs`` in one thread, and the total."""
    profiler = cProfile.Profile()
    profiler.enable()
    for arguments in jobs:
        run_in_process(arguments)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    steps = {label: 0.0 for label, _, _ in STEPS}
    for (file, _, function), (_, _, _, cumulative, _) in stats.items():
        for label, module, name in STEPS:
            if file.endswith(f"brain_atrophy/measure/{module}") or file.endswith(f"brain_atrophy/{module}"):
                if function != name:
                    continue
                steps[label] += cumulative
    jobs_total = [total for (_, _, name), (*_, total, _) in stats.items() if name == "run_in_process"]
    steps["whole job"] = sum(jobs_total)
    return steps


def bincount_in_threads(repeats: int = 40) -> float:
    """Speed-up of two threads over one, each running np.bincount over the same 2 M labels."""
    labels = np.random.default_rng(0).integers(0, 60, 2_000_000).astype(np.uint8)

    def count():
        for _ in range(repeats):
            np.bincount(labels)

    start = time.perf_counter()
    count()
    count()
    one = time.perf_counter() - start
    with ThreadPoolExecutor(2) as pool:
        start = time.perf_counter()
        list(pool.map(lambda _: count(), range(2)))
        two = time.perf_counter() - start
    return one / two


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo-dir", type=Path, default=REPO / "demo")
    parser.add_argument("--subjects", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        jobs = subject_arguments(args.demo_dir.resolve(), Path(tmp), args.subjects)
        sessions = sum(a.count("--image") for a in jobs)
        run_in_process(jobs[0])  # imports and first-use costs, paid once per run
        one_wall, one_cpu = in_threads(jobs, 1)
        two_wall, two_cpu = in_threads(jobs, 2)
        process_wall = as_processes(jobs, 2)
        steps = profile_steps(jobs)
    bincount_speedup = bincount_in_threads()
    n = len(jobs)
    print(f"{n} demo subjects, {sessions} sessions; per subject:")
    print(f"  as processes, 2 at a time (the pipeline): {1000 * process_wall / n:.1f} ms wall")
    print(
        f"  in one process, 1 thread: {1000 * one_wall / n:.1f} ms wall, {1000 * one_cpu / n:.1f} ms CPU; "
        f"2 threads: {1000 * two_wall / n:.1f} ms wall ({process_wall / two_wall:.2f}x less than processes)"
    )
    print("where one job's time goes (cProfile, per subject; the whole job includes the rest):")
    for label, seconds in steps.items():
        print(f"  {label}: {1000 * seconds / n:.1f} ms")
    print(f"np.bincount of 2 M uint8 labels, 2 threads against 1: {bincount_speedup:.2f}x")


if __name__ == "__main__":
    main()
