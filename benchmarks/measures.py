"""Both change measures on one planted cohort: the CI widths of the group rates side by side.

Builds a cohort with brain_atrophy_demo.deform (the real T1 template and IBSR labels pulled
through each subject's random warp; planted regional rates per group; label images at every
visit carrying a segmenter's repeatability noise), runs the pipeline from scratch with
`change_measure: jacobian` (which also counts the follow-ups' labels), and prints, per group and
region, each measure's rate, 95 % CI and its width, whether the CI covers the planted rate, and
the ratio of the widths. The sample size per arm for a given power scales with the squared
width, so width_labels² / width_jacobian² is how many times fewer subjects Jacobian integration
would need.

    python benchmarks/measures.py [--voxel-mm 1] [--groups HC=6,MS=6] [--seed 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import REPO

from brain_atrophy import paths
from brain_atrophy.tables import read_frame
from brain_atrophy_demo.deform import DEFAULT_WEEKS, build_study, parse_groups
from brain_atrophy_demo.demo import study_config


def run_pipeline(study: Path, out: Path, threads: int) -> float:
    config = {
        **study_config(study, out),
        "change_measure": "jacobian",
        "registration": {"threads": threads},
    }
    config_file = study / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    command += ["--cores", "2", "--configfile", str(config_file), "-q"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=study, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"snakemake failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--voxel-mm", type=float, default=1.0)
    parser.add_argument("--groups", type=parse_groups, default={"HC": 6, "MS": 6})
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="threads per registration job")
    parser.add_argument("--keep", type=Path, help="build and run here, and keep it")
    arguments = parser.parse_args()
    (REPO / ".cache").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=REPO / ".cache") as tmp:
        study = arguments.keep or Path(tmp)
        started = time.perf_counter()
        built = build_study(
            study, REPO / ".cache", arguments.groups, DEFAULT_WEEKS, arguments.voxel_mm, followup_labels=True,
            seed=arguments.seed,
        )  # fmt: skip
        build_seconds = time.perf_counter() - started
        out = study / "out"
        run_seconds = run_pipeline(study, out, arguments.threads)
        by_measure = read_frame(paths.group_table(out, "rates_by_measure"))
        planted = read_frame(study / "truth" / "rates.tsv")
    groups = ", ".join(f"{name} {count}" for name, count in arguments.groups.items())
    weeks = "/".join(map(str, DEFAULT_WEEKS))
    print(
        f"{arguments.voxel_mm:g} mm, groups {groups}, weeks {weeks}, seed {arguments.seed}: "
        f"built in {build_seconds:.0f} s ({built['sessions']} sessions), pipeline from scratch in "
        f"{run_seconds:.0f} s on 2 cores"
    )
    truth = planted.set_index(["group", "region"])["rate_pct_per_year"]
    print(f"\n{'group':6s} {'region':22s} {'planted':>8s}  {'measure':9s} {'rate':>7s}  {'95 % CI':>17s}  "
          f"{'width':>6s}  covers")  # fmt: skip
    widths = {}
    for row in by_measure.sort_values(["group", "region", "method"]).itertuples():
        widths[(row.group, row.region, row.method)] = row.ci_width
        planted_rate = truth.get((row.group, row.region))  # planted regions only
        shown = "" if planted_rate is None else f"{planted_rate:+8.2f}"
        covers = (
            "" if planted_rate is None else ("yes" if row.ci_low <= planted_rate <= row.ci_high else "NO")
        )
        rate = (
            f"{row.rate_pct_per_year:+7.2f}  [{row.ci_low:+7.2f}, {row.ci_high:+7.2f}]  {row.ci_width:6.2f}"
        )
        print(f"{row.group:6s} {row.region:22s} {shown:>8s}  {row.method:9s} {rate}  {covers}")
    print("\nthe label counts' CI width / Jacobian integration's (squared: the ratio of subjects needed)")
    for group, region in sorted({(g, r) for g, r, _ in widths}):
        labels, jacobian = widths.get((group, region, "labels")), widths.get((group, region, "jacobian"))
        if labels and jacobian:
            print(f"  {group:6s} {region:22s} {labels / jacobian:5.2f}  ({(labels / jacobian) ** 2:5.2f})")


if __name__ == "__main__":
    main()
