"""Snakemake's local scheduler with thousands of jobs: its default settings against the
scheduler settings of the pipeline's profiles (profiles/default and profiles/large-cohort),
side by side in one run.

The workflow is bare: N independent jobs that each burn ~0.1 s of CPU in a new Python
process (a stand-in for one subject's job), and one job that gathers them, on 2 cores. The
ratios show what the profiles' `scheduler`, `scheduler-subsample` and `max-jobs-per-timespan`
save at this scale. The bare workflow includes rules/scheduling.smk, whose hooks cancel the
job-rate clock's timers when a run ends, as the pipeline's own Snakefile does.

    python benchmarks/scheduler.py [--jobs 1500]
"""

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEDULER_KEYS = ("scheduler", "scheduler-subsample", "max-jobs-per-timespan")

# ~0.1 s of CPU in a new interpreter, like a subject job's imports and work
BURN = "import time\nend = time.process_time() + 0.1\nwhile time.process_time() < end:\n    pass\n"

BARE_SNAKEFILE = f"""
include: "{REPO / "rules" / "scheduling.smk"}"

N = int(config["n_jobs"])

rule all:
    input: "out/all.txt"

rule one:
    input: "in/{{i}}.txt"
    output: "out/{{i}}.txt"
    shell: "python3 burn.py && cp {{input}} {{output}}"

rule gather:
    input: expand("out/{{i}}.txt", i=range(N))
    output: "out/all.txt"
    shell: "cat {{input}} > {{output}}"
"""


def profile_options(name: str) -> list[str]:
    profile = yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())
    return [part for key in SCHEDULER_KEYS if key in profile for part in (f"--{key}", str(profile[key]))]


def timed_run(root: Path, n_jobs: int, options: list[str]) -> float:
    subprocess.run(["rm", "-rf", "out", ".snakemake"], cwd=root, check=True)
    start = time.perf_counter()
    subprocess.run(
        ["snakemake", "--cores", "2", "--quiet", "all", "--config", f"n_jobs={n_jobs}", *options],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "Snakefile").write_text(BARE_SNAKEFILE)
        (root / "burn.py").write_text(BURN)
        (root / "in").mkdir()
        for i in range(args.jobs):
            (root / "in" / f"{i}.txt").write_text(f"{i}\n")
        seconds = {"Snakemake defaults": timed_run(root, args.jobs, [])}
        for name in ("default", "large-cohort"):
            options = profile_options(name)
            seconds[f"profiles/{name} ({' '.join(options)})"] = timed_run(root, args.jobs, options)
    print(f"{args.jobs} jobs of ~0.1 s CPU on 2 cores (CPU floor {args.jobs * 0.1 / 2:.0f} s)")
    baseline = seconds["Snakemake defaults"]
    for label, value in seconds.items():
        print(f"  {label}: {value:.1f} s (defaults / this: {baseline / value:.2f})")


if __name__ == "__main__":
    main()
