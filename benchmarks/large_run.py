"""A full local run at cohort scale: 10,000 sessions (3,334 subjects × 3 visits) on 2 cores.

The label images are the demo cohort's real 161×197×161 maps, hard-linked (so building the
cohort costs no disk and no time); what is timed is the pipeline from scratch: every subject
job (decode, count, QC mosaic), the group statistics and the report stage, with the
large-cohort profile (profiles/large-cohort) that the README recommends at this scale.

    python benchmarks/large_run.py --demo-dir demo [--sessions 10000]
"""

import argparse
import itertools
import os
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(root: Path, demo: Path, n_sessions: int) -> int:
    images = sorted((demo / "derivatives" / "segmentation").glob("sub-*/ses-*/anat/*_dseg.nii.gz"))
    source = itertools.cycle(images)
    groups = ["HC", "OCR", "IFN"]
    participants = ["participant_id\tgroup"]
    n_subjects = -(-n_sessions // 3)
    for s in range(n_subjects):
        subject = f"L{s:05d}"
        participants.append(f"sub-{subject}\t{groups[s % 3]}")
        rows = ["session_id\tacq_time"]
        for k, week in enumerate((0, 48, 96)):
            anat = root / "seg" / f"sub-{subject}" / f"ses-w{week}" / "anat"
            anat.mkdir(parents=True)
            os.link(next(source), anat / f"sub-{subject}_ses-w{week}_dseg.nii.gz")
            rows.append(f"ses-w{week}\t{2020 + k}-0{1 + k}-15")
        (root / "bids" / f"sub-{subject}").mkdir(parents=True)
        (root / "bids" / f"sub-{subject}" / f"sub-{subject}_sessions.tsv").write_text("\n".join(rows) + "\n")
    (root / "bids" / "participants.tsv").write_text("\n".join(participants) + "\n")
    (root / "config.yaml").write_text(
        "bids_dir: bids\nsegmentation_dir: seg\nregions: freesurfer\nreference_group: HC\noutput_dir: out\n"
    )
    return n_subjects


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo-dir", type=Path, default=REPO / "demo")
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=REPO / ".cache") as tmp:
        root = Path(tmp)
        n_subjects = build(root, args.demo_dir.resolve(), args.sessions)
        start = time.perf_counter()
        command = [
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--cores",
            "2",
            "--configfile",
            "config.yaml",
            "--workflow-profile",
            str(REPO / "profiles" / "large-cohort"),
        ]
        result = subprocess.run([*command, "-q"], cwd=root, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(result.stderr[-3000:])
    print(
        f"full local run, {3 * n_subjects} sessions ({n_subjects} subjects), 2 cores: {seconds / 60:.1f} min"
    )
    print("goal: <= 15 min")


if __name__ == "__main__":
    main()
