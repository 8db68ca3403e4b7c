# The two commands of the README: `make run` (the default study) and `make test` (the suite).
# Both create .venv on first use and install the pinned dependencies into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.enfopath-installed
CORES ?= all

.PHONY: run check test report lint format bench clean

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

# make run [CONFIG=configs/<study>.yaml]: the default study, or another one (checked first)
run: $(STAMP)
	@if [ -n "$(CONFIG)" ]; then $(BIN)/python -m enfopath.study.config $(CONFIG); fi
	$(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG))

# make check CONFIG=configs/<study>.yaml: validate a study config, naming the file and line
check: $(STAMP)
	$(BIN)/python -m enfopath.study.config $(or $(CONFIG),config.yaml)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=30

report: $(STAMP)
	$(BIN)/snakemake --report results/digits_default/report.html

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check enfopath tests workflow_scripts benchmarks
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format enfopath tests workflow_scripts benchmarks
	$(BIN)/snakefmt Snakefile rules

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_study.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_monitor.py
	$(BIN)/python benchmarks/bench_density.py

# One experiment's results at a time: make clean EXPERIMENT=<name>
clean:
	@if [ -z "$(EXPERIMENT)" ]; then \
	  echo "make clean EXPERIMENT=<name> deletes results/<name>/ (nothing else)."; \
	  echo "experiments here: $$(ls results 2>/dev/null | tr '\n' ' ')"; exit 2; fi
	@test -d "results/$(EXPERIMENT)" || { echo "no results/$(EXPERIMENT)/ to delete"; exit 2; }
	rm -rf "results/$(EXPERIMENT)"
