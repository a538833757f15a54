"""Every benchmark, one after another (about 35 minutes on 2 cores, 15 of them the
10,000-session run; it needs the demo cohort: `make demo-data`): python benchmarks/run.py"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in (
    "volume_step.py",
    "group_statistics.py",
    "dry_run.py",
    "end_to_end.py",
    "scheduler.py",
    "large_run.py",
):
    print(f"\n=== {script} ===", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], cwd=HERE, check=True)
