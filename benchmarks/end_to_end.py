"""Snakemake end to end: the demo cohort from scratch, one added session, and per-job cost.

full run     the demo cohort (133 subjects, ~490 sessions) from scratch, 2 cores
one session  one session added to a finished run: its subject's job and the group job
per job      40 subjects with one tiny label image each, subject jobs only, against a bare
             workflow of 40 `touch` jobs (Snakemake's own per-job cost), both measured here;
             and the interpreter + imports each subject job's own process pays, against
             what pandas, statsmodels and nilearn would add

  python benchmarks/end_to_end.py [--demo-dir demo]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from common import REPO, median_seconds

from brain_atrophy_demo.demo import build_demo, fetch_atlas

CONFIG = "bids_dir: {root}/bids\nsegmentation_dir: {root}/derivatives/segmentation\nregions: freesurfer\n"
CONFIG += "reference_group: HC\noutput_dir: {out}\n"


def snakemake(*args, cwd) -> float:
    command = ["snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2", *map(str, args)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"snakemake failed in {cwd}:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def tiny_cohort(root: Path, n_subjects: int) -> None:
    labels = np.zeros((8, 8, 8), dtype=np.uint8)
    labels[2:6, 2:6, 2:6] = 2
    rows = ["participant_id\tgroup"]
    for s in range(n_subjects):
        subject = f"T{s:03d}"
        anat = root / "derivatives/segmentation" / f"sub-{subject}" / "ses-1" / "anat"
        anat.mkdir(parents=True)
        nib.save(nib.Nifti1Image(labels, np.eye(4)), anat / f"sub-{subject}_ses-1_dseg.nii.gz")
        (root / "bids" / f"sub-{subject}").mkdir(parents=True)
        (root / "bids" / f"sub-{subject}" / f"sub-{subject}_sessions.tsv").write_text(
            "session_id\tacq_time\nses-1\t2020-01-01\n"
        )
        rows.append(f"sub-{subject}\tHC")
    (root / "bids" / "participants.tsv").write_text("\n".join(rows) + "\n")


def import_cost(statement: str) -> float:
    return median_seconds(lambda: subprocess.run([sys.executable, "-c", statement], check=True), 5)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo-dir", type=Path, help="an existing demo cohort (default: build one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo = args.demo_dir.resolve() if args.demo_dir else work / "demo"
        if not args.demo_dir:
            build_demo(demo, fetch_atlas(REPO / ".cache"))
        cohort = work / "cohort"
        shutil.copytree(demo, cohort)
        (work / "config.yaml").write_text(CONFIG.format(root=cohort, out=work / "out"))
        full = snakemake("--configfile", "config.yaml", cwd=work)
        n_sessions = len(list((cohort / "derivatives/segmentation").glob("sub-*/ses-*")))

        subject_dir = cohort / "derivatives/segmentation/sub-HC01"
        last = sorted(subject_dir.glob("ses-*/anat/*_dseg.nii.gz"))[-1]
        added = subject_dir / "ses-w144" / "anat"
        added.mkdir(parents=True)
        shutil.copy(last, added / "sub-HC01_ses-w144_dseg.nii.gz")
        with open(cohort / "bids/sub-HC01/sub-HC01_sessions.tsv", "a") as table:
            table.write("ses-w144\t2024-06-01T09:00:00\n")
        one_session = snakemake("--configfile", "config.yaml", cwd=work)

        tiny = work / "tiny"
        tiny_cohort(tiny, 40)
        (work / "tiny.yaml").write_text(CONFIG.format(root=tiny, out=work / "tiny_out"))
        targets = [work / "tiny_out" / f"sub-T{s:03d}" for s in range(40)]
        pipeline_40 = snakemake(
            *targets, "--configfile", "tiny.yaml", cwd=work
        )  # targets first: --configfile takes many
        (work / "bare").mkdir()
        (work / "bare" / "Snakefile").write_text(
            'rule all:\n    input: expand("out/{i}.txt", i=range(40))\n\n'
            'rule touch:\n    output: "out/{i}.txt"\n    shell: "touch {output}"\n'
        )
        start = time.perf_counter()
        subprocess.run(["snakemake", "--cores", "2"], cwd=work / "bare", check=True, capture_output=True)
        bare_40 = time.perf_counter() - start

    print("Snakemake end to end (2 cores)")
    print(f"  demo cohort from scratch ({n_sessions} sessions): {full:.1f} s   (goal <= 180 s)")
    print(f"  one added session (its subject + group job):   {one_session:.1f} s   (goal <= 30 s)")
    print(f"  40 one-image subject jobs: {pipeline_40:.1f} s; 40 bare touch jobs: {bare_40:.1f} s")
    print(
        f"  per job, wall clock on 2 cores: pipeline {pipeline_40 / 40 * 1000:.0f} ms, "
        f"bare {bare_40 / 40 * 1000:.0f} ms, ratio {pipeline_40 / bare_40:.1f}"
    )
    base = import_cost("pass")
    ours = import_cost("import brain_atrophy.measure.job")
    heavy = import_cost("import brain_atrophy.measure.subject, pandas, statsmodels.api, nilearn.image")
    print(
        f"  a subject job's own process, interpreter + imports (numpy, isal): {ours * 1000:.0f} ms "
        f"(bare interpreter {base * 1000:.0f} ms; with pandas, statsmodels, nilearn: {heavy * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
