#!/usr/bin/env bash
# The test suite as `make test` and CI run it. As root on Debian it first brings up what the
# integration tests need: R with lme4 (tools/install-system-deps.sh) and a single-node SLURM
# cluster with accounting (tools/slurm/start-local-slurm.sh), which it stops again at the end —
# only the daemons it started. Elsewhere those tests are skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-system-deps.sh
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "${BRAIN_ATROPHY_SLURM:-1}" = 1 ]; then
  # Kept up for the whole run: with SLURM's client tools installed, every snakemake start asks
  # the controller for its config and waits ~10 s when none answers.
  export LOCAL_SLURM_DIR=${LOCAL_SLURM_DIR:-/tmp/brain-atrophy-slurm}
  trap 'bash tools/slurm/stop-local-slurm.sh' EXIT
  bash tools/slurm/start-local-slurm.sh
fi
# Two workers, one test file each at a time: most tests wait on a Snakemake, R or ANTs
# subprocess, and a file's module fixtures (a whole pipeline run) are built once. Files go out
# in collection order, the slowest first (tests/conftest.py), not by their number of tests.
python3 -m pytest -ra --durations=25 -n "${PYTEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
