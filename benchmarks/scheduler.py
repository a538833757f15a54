"""Snakemake's local scheduler with thousands of jobs: its default settings against the
scheduler settings of the pipeline's local profile (profiles/default/config.yaml), side by side.

The workflow is bare: N independent jobs that each burn ~0.1 s of CPU in a new Python
process (a stand-in for one subject's job), and one job that gathers them. Both runs use 2
cores; the ratio shows what the profile's `scheduler`, `scheduler-subsample` and
`max-jobs-per-timespan` save at this scale.

    python benchmarks/scheduler.py [--jobs 2000]
"""

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEDULER_KEYS = ("scheduler", "scheduler-subsample", "max-jobs-per-timespan")

BARE_SNAKEFILE = """
N = int(config["n_jobs"])

rule all:
    input: "out/all.txt"

rule one:
    input: "in/{i}.txt"
    output: "out/{i}.txt"
    shell: "python3 -c 'import time; end = time.process_time() + 0.1\\nwhile time.process_time() < end: pass' && cp {input} {output}"

rule gather:
    input: expand("out/{i}.txt", i=range(N))
    output: "out/all.txt"
    shell: "cat {input} > {output}"
"""


def profile_options() -> list[str]:
    profile = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    return [part for key in SCHEDULER_KEYS for part in (f"--{key}", str(profile[key]))]


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "Snakefile").write_text(BARE_SNAKEFILE)
        (root / "in").mkdir()
        for i in range(args.jobs):
            (root / "in" / f"{i}.txt").write_text(f"{i}\n")
        tuned = profile_options()
        profile_seconds = timed_run(root, args.jobs, tuned)
        default_seconds = timed_run(root, args.jobs, [])
    floor = args.jobs * 0.1 / 2
    print(f"{args.jobs} jobs of ~0.1 s CPU on 2 cores (CPU floor {floor:.0f} s)")
    print(f"  Snakemake defaults:            {default_seconds:7.1f} s")
    print(f"  profile ({' '.join(tuned)}): {profile_seconds:7.1f} s")
    print(f"  defaults / profile: {default_seconds / profile_seconds:.2f}")


if __name__ == "__main__":
    main()
