"""Every benchmark, one after another (about two hours on 2 cores: the throughput runs and the
1 mm measures comparison take most; it needs the demo cohort: `make demo-data`):
python benchmarks/run.py"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script, *arguments in (
    ("volume_step.py",),
    ("group_statistics.py",),
    ("dry_run.py",),
    ("end_to_end.py",),
    ("subject_jobs.py",),
    ("scheduler.py",),
    ("throughput.py", "--large"),
    ("registration.py", "--voxel-mm", "1", "--zero", "2", "--planted", "2"),
    ("atlas_registration.py", "--voxel-mm", "1", "--subjects", "3"),
    ("measures.py", "--voxel-mm", "1", "--threads", "1"),
):
    print(f"\n=== {script} {' '.join(arguments)} ===", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *arguments], cwd=HERE, check=True)
