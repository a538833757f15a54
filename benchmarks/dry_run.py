"""Dry-run cost at scale: the pipeline against a bare Snakemake workflow of the same shape.

Both run `snakemake -n` on the same tree of empty files (N sessions, 4 per subject); the bare
workflow has one job per session, one per subject and one group job, and finds its inputs with
glob_wildcards. Prints medians of several repeats and their ratio, measured side by side.

    python benchmarks/dry_run.py [--sessions 10000] [--repeats 3]
"""

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BARE_SNAKEFILE = """
SUBJECTS, SESSIONS = glob_wildcards("seg/sub-{subject}/ses-{session}/anat/sub-{s2}_ses-{s3}_dseg.nii.gz")[:2]
PAIRS = sorted(set(zip(SUBJECTS, SESSIONS)))
BY_SUBJECT = {}
for subject, session in PAIRS:
    BY_SUBJECT.setdefault(subject, []).append(session)

rule all:
    input: "out/group.tsv"

rule session:
    input: "seg/sub-{subject}/ses-{session}/anat/sub-{subject}_ses-{session}_dseg.nii.gz"
    output: "out/sub-{subject}/ses-{session}.tsv"
    shell: "touch {output}"

rule subject:
    input: lambda w: [f"out/sub-{w.subject}/ses-{s}.tsv" for s in BY_SUBJECT[w.subject]]
    output: "out/sub-{subject}/rates.tsv"
    shell: "touch {output}"

rule group:
    input: expand("out/sub-{subject}/rates.tsv", subject=sorted(BY_SUBJECT))
    output: "out/group.tsv"
    shell: "touch {output}"
"""


def build_tree(root: Path, n_sessions: int) -> None:
    (root / "bids").mkdir(parents=True)
    (root / "bids" / "participants.tsv").write_bytes(b"")
    for s in range(n_sessions // 4):
        subject = f"S{s:05d}"
        (root / "bids" / f"sub-{subject}").mkdir()
        (root / "bids" / f"sub-{subject}" / f"sub-{subject}_sessions.tsv").write_bytes(b"")
        for k in range(4):
            anat = root / "seg" / f"sub-{subject}" / f"ses-{k}" / "anat"
            anat.mkdir(parents=True)
            (anat / f"sub-{subject}_ses-{k}_dseg.nii.gz").write_bytes(b"")
    (root / "config.yaml").write_text(
        "bids_dir: bids\nsegmentation_dir: seg\nregions: freesurfer\nreference_group: HC\noutput_dir: out\n"
    )
    (root / "Snakefile.bare").write_text(BARE_SNAKEFILE)


def timed(command, cwd) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tree(root, args.sessions)
        pipeline = [
            "snakemake",
            "-n",
            "--cores",
            "1",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--configfile",
            "config.yaml",
        ]
        bare = ["snakemake", "-n", "--cores", "1", "--snakefile", "Snakefile.bare"]
        times = {"pipeline": [], "bare": []}
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
            times["pipeline"].append(timed(pipeline, root))
            times["bare"].append(timed(bare, root))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"dry run, {args.sessions} empty sessions ({args.sessions // 4} subjects), median of {args.repeats}:"
    )
    print(
        f"  pipeline: {medians['pipeline']:.1f} s  (runs: {', '.join(f'{t:.1f}' for t in times['pipeline'])})"
    )
    bare_runs = ", ".join(f"{t:.1f}" for t in times["bare"])
    print(f"  bare workflow of the same shape: {medians['bare']:.1f} s  (runs: {bare_runs})")
    print(f"  ratio pipeline / bare: {medians['pipeline'] / medians['bare']:.2f}  (goal ≤ 1.5)")


if __name__ == "__main__":
    main()
