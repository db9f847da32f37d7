# mtfqi: every stage is a file target, so make reruns only what is stale.
#   make run       install what is missing, build, run every stage on the default data in data/
#   make test      the test suite (what CI runs; includes a 2 s budget per fuzz harness)
#   make fuzz      seeded mutation fuzzing for FUZZ_SECONDS per harness (FUZZ_SEED, findings in build/fuzz-findings)
#   make bench     benchmarks against the Python peers (build/bench/*/results.md)
#   make scaling   the paper's scaling sweeps (SCALING=quick for a fast variant)
#   make report    one HTML page of whatever outputs OUT holds (make report-check: look at it in chromium)
#
# Your own logs: make run LOGS=path/to/logs NEW_TASK=path/to/new-task-logs OUT=build/mine
#   (spaces inferred, one-hot features, no truth; CONFIG=, TRAIN_FLAGS=, FEATURES=, SPACES= to change)
SHELL := /bin/bash
.DELETE_ON_ERROR:

SWIFT ?= swift
CONFIG_BUILD ?= release
BIN := .build/$(CONFIG_BUILD)
# Release executables carry the Swift runtime and Foundation inside them: they start ~10 ms
# faster (fewer shared libraries to bind) and run without the toolchain's libraries. Debug
# builds (make test) link them dynamically.
SWIFT_BUILD_FLAGS ?= $(if $(filter release,$(CONFIG_BUILD)),--static-swift-stdlib)
OUT ?= build/run
DATA ?= data/synth
# Training logs and the new task's logs: files or folders. A folder is searched recursively for
# log files (*.csv, *.jsonl, *.ndjson, optionally .gz; *.hdf5, *.h5) and Minari dataset folders
# (a folder holding data/main_data.hdf5, ingested as one dataset); see tools/find_logs.sh.
LOGS ?= $(DATA)/train
NEW_TASK ?= $(DATA)/new
TRAIN_LOGS := $(shell tools/find_logs.sh $(LOGS))
NEW_LOGS := $(shell tools/find_logs.sh $(NEW_TASK))
TRAIN_LOG_FILES := $(shell tools/find_logs.sh --files $(LOGS))
NEW_LOG_FILES := $(shell tools/find_logs.sh --files $(NEW_TASK))
# Whether LOGS is the bundled synthetic family (its settings below name its truth and features);
# for your own logs the defaults are: spaces inferred, one-hot features, no truth, no gates.
DEFAULT_DATA := $(if $(filter $(DATA)/train $(DATA)/train/,$(LOGS)),yes)
# Declared spaces (for the default data: a 100-row log need not visit every state). Empty: the
# store infers its spaces from every task's data and widens them as tasks arrive.
SPACES ?= $(if $(DEFAULT_DATA),--observation-space discrete:50 --action-space discrete:4)
# Training settings (schemas/train-config.schema.json); the default data's config names its
# feature table and truth. Empty: flags only (TRAIN_FLAGS; one-hot features by default).
CONFIG ?= $(if $(DEFAULT_DATA),data/train.json)
# Flags that override the config (e.g. --feature-table FILE --truth FILE --rank 8).
TRAIN_FLAGS ?=
# Where mtfqi-train writes the learned Q tables as CSV (Discrete observations only; empty: none).
Q_TABLES ?= $(if $(DEFAULT_DATA),$(OUT)/q)
# The synthetic family's exact truth; empty for logs without one (held-out Bellman error instead).
TRUTH ?= $(if $(DEFAULT_DATA),$(DATA)/truth.h5)
# Base features for coverage (schemas/coverage.md): table:FILE, one-hot, raw, fourier.
FEATURES ?= $(if $(DEFAULT_DATA),table:$(DATA)/features.h5,one-hot)
# Coverage gates: make stops before training when the data cannot support it (exit 3). Off for
# your own logs unless you set them (coverage still reports every number).
COVERAGE_GATES ?= $(if $(DEFAULT_DATA),--max-unseen-share 0 --max-concentrability 50 --min-lambda 1e-3 --max-kappa 20)

# Python for tools/ and the test suite's cross-checks (h5py, numpy, pandas): python3 on PATH
# when it has them, else Debian's /usr/bin/python3 with Debian's python3-h5py, python3-numpy and
# python3-pandas, which `make python-deps` installs (no pip: Debian's python3 refuses it).
PYTHON_DEB_PACKAGES := python3 python3-h5py python3-numpy python3-pandas
PYTHON_CHECK := import h5py, numpy, pandas
PYTHON ?= $(shell for p in python3 /usr/bin/python3; do command -v $$p >/dev/null 2>&1 && $$p -c "$(PYTHON_CHECK)" >/dev/null 2>&1 && { command -v $$p; exit 0; }; done; echo /usr/bin/python3)

APT_PACKAGES := libhdf5-dev zlib1g-dev libopenblas-dev liblapacke-dev pkg-config libfast-float-dev hdf5-tools time
SOURCES := Package.swift $(shell find Sources -name '*.swift' -o -name '*.h' -o -name '*.c' -o -name '*.cpp' -o -name '*.modulemap' 2>/dev/null)
STAMP := $(BIN)/.mtfqi-built

.PHONY: all deps python-deps build run test fuzz bench scaling coverage-gate report report-check clean

all: build

# System packages, installed when missing (root here; sudo otherwise).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Python packages for tools/ (h5py round-trip checks, numpy reference, benchmark peers), from
# Debian's packages when no python3 on PATH has them; the product itself needs no Python.
python-deps:
	@for p in python3 /usr/bin/python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c "$(PYTHON_CHECK)" >/dev/null 2>&1 && exit 0; \
	done; \
	echo "Installing: $(PYTHON_DEB_PACKAGES)"; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(PYTHON_DEB_PACKAGES) >/dev/null; \
	/usr/bin/python3 -c "$(PYTHON_CHECK)"

$(STAMP): $(SOURCES) | deps
	$(SWIFT) build -c $(CONFIG_BUILD) $(SWIFT_BUILD_FLAGS)
	@touch $@

build: $(STAMP)

# --- The pipeline -----------------------------------------------------------------------------
$(OUT)/store.h5: $(TRAIN_LOG_FILES) $(STAMP)
	@test -n "$(TRAIN_LOGS)" || { echo "No logs found in LOGS=$(LOGS) (tools/find_logs.sh says which files count)" >&2; exit 2; }
	@mkdir -p $(OUT)
	$(BIN)/mtfqi-ingest $(TRAIN_LOGS) $(SPACES) -o $@

$(OUT)/new.h5: $(NEW_LOG_FILES) $(STAMP)
	@test -n "$(NEW_LOGS)" || { echo "No logs found in NEW_TASK=$(NEW_TASK) (tools/find_logs.sh says which files count)" >&2; exit 2; }
	@mkdir -p $(OUT)
	$(BIN)/mtfqi-ingest $(NEW_LOGS) $(SPACES) -o $@

$(OUT)/coverage.json: $(OUT)/store.h5
	$(BIN)/mtfqi-coverage $< $(if $(TRUTH),--truth $(TRUTH)) --features $(FEATURES) $(COVERAGE_GATES) -o $@

$(OUT)/model.h5: $(OUT)/store.h5 $(OUT)/coverage.json $(CONFIG)
	$(BIN)/mtfqi-train $< -o $@ $(if $(CONFIG),--config $(CONFIG)) $(if $(TRUTH),$(if $(DEFAULT_DATA),,--truth $(TRUTH))) $(TRAIN_FLAGS) $(if $(Q_TABLES),--q-tables $(Q_TABLES))

$(OUT)/representation.h5: $(OUT)/model.h5 $(OUT)/new.h5
	$(BIN)/mtfqi-export $< --store $(OUT)/new.h5 -o $@

# One head per task of the new store, frozen features against scratch (and the oracle with truth).
$(OUT)/heads/.done: $(OUT)/representation.h5 $(OUT)/new.h5
	@mkdir -p $(@D)
	@set -e; for task in $$($(BIN)/mtfqi-inspect $(OUT)/new.h5 --task-names); do \
	  echo "$(BIN)/mtfqi-fit $< $(OUT)/new.h5 --task $$task --scratch -o $(@D)/$$task.h5"; \
	  $(BIN)/mtfqi-fit $< $(OUT)/new.h5 --task $$task --scratch \
	    $(if $(TRUTH),--truth $(TRUTH),--holdout 0.2 --seed 0) -o $(@D)/$$task.h5 --quiet; \
	done
	@touch $@

$(OUT)/metrics.json: $(OUT)/model.h5 $(OUT)/heads/.done
	$(BIN)/mtfqi-evaluate $(if $(TRUTH),$(OUT)/model.h5 --truth $(TRUTH)) $(sort $(wildcard $(OUT)/heads/*.h5)) -o $@ > $(OUT)/metrics.txt

# One self-contained page of the whole run (inline SVG figures, no script).
$(OUT)/report.html: $(OUT)/metrics.json $(STAMP)
	$(BIN)/mtfqi-report --store $(OUT)/store.h5 --store $(OUT)/new.h5 --coverage $(OUT)/coverage.json \
	  --model $(OUT)/model.h5 --representation $(OUT)/representation.h5 --heads $(OUT)/heads \
	  --metrics $(OUT)/metrics.json -o $@ > /dev/null

run: $(OUT)/report.html
	@cat $(OUT)/metrics.txt
	@echo "Outputs in $(OUT)/: store.h5 new.h5 coverage.json model.h5 $(if $(Q_TABLES),$(notdir $(Q_TABLES))/ )representation.h5 heads/ metrics.json report.html"
	@echo "Report: $(OUT)/report.html"

# The coverage gate alone (exit 3 when a gate fails).
coverage-gate: $(OUT)/store.h5
	$(BIN)/mtfqi-coverage $< $(if $(TRUTH),--truth $(TRUTH)) --features $(FEATURES) $(COVERAGE_GATES) --quiet

# --- Tests ------------------------------------------------------------------------------------
test: deps python-deps
	$(SWIFT) build
	MTFQI_PYTHON=$(PYTHON) $(SWIFT) test

# Seeded mutation fuzzing (Tests/MTFQITests/Fuzz): the CSV / JSON Lines parsers (the C fast paths
# against the Swift parsers) and every HDF5 reader, FUZZ_SECONDS per harness.
FUZZ_SECONDS ?= 60
FUZZ_SEED ?= 1
fuzz: deps
	$(SWIFT) build
	MTFQI_FUZZ_SECONDS=$(FUZZ_SECONDS) MTFQI_FUZZ_SEED=$(FUZZ_SEED) $(SWIFT) test --filter FuzzTests

# --- Benchmarks and scaling (not part of test) ------------------------------------------------
bench: deps python-deps build
	@test -f build/bench/bench.csv || $(PYTHON) tools/make_bench_data.py --out build/bench
	$(PYTHON) tools/bench_ingest.py --binary $(BIN)/mtfqi-ingest --data build/bench --runs 3
	$(PYTHON) tools/bench_train.py --bin $(BIN) --out build/bench/train --runs 3
	@if test -f build/gym/runs/mountaincar/store.h5; then \
	  $(PYTHON) tools/bench_selection.py --bin $(BIN) --store build/gym/runs/mountaincar/store.h5 \
	    --gamma 0.99 --features fourier --runs 3 --out build/bench/selection.json; \
	else echo "bench: selection cost skipped: no build/gym/runs/mountaincar/store.h5 (make gym-check GYM_FLAGS='--only mountaincar' writes it)"; fi

scaling: deps python-deps build
	$(PYTHON) tools/scaling.py --bin $(BIN) $(if $(filter quick,$(SCALING)),--quick --out build/scaling-quick,--out build/scaling)

# --- The report ---------------------------------------------------------------------------------
# The page of whatever OUT holds (any subset of the pipeline's outputs, or make scaling's tables).
REPORT_FILE = $(wildcard $(OUT)/$(1))
report: build
	@test -d $(OUT) || { echo "make report: $(OUT) does not exist (make run OUT=$(OUT) first)" >&2; exit 2; }
	$(BIN)/mtfqi-report $(foreach f,store.h5 new.h5,$(if $(call REPORT_FILE,$(f)),--store $(OUT)/$(f))) \
	  $(if $(call REPORT_FILE,coverage.json),--coverage $(OUT)/coverage.json) \
	  $(if $(call REPORT_FILE,model.h5),--model $(OUT)/model.h5) \
	  $(if $(call REPORT_FILE,representation.h5),--representation $(OUT)/representation.h5) \
	  $(if $(call REPORT_FILE,heads/*.h5),--heads $(OUT)/heads) \
	  $(if $(call REPORT_FILE,metrics.json),--metrics $(OUT)/metrics.json) \
	  $(if $(call REPORT_FILE,upstream.csv)$(call REPORT_FILE,downstream.csv),--scaling $(OUT)) \
	  -o $(OUT)/report.html
	@echo "Report: $(OUT)/report.html"

# Looks at the page in a real browser (not part of make test): installs Debian's chromium when
# missing, screenshots the page at 1280 px and every figure, and fails when one is blank.
report-check:
	@test -f $(OUT)/report.html || { echo "make report-check: no $(OUT)/report.html (make report OUT=$(OUT) first)" >&2; exit 2; }
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	/usr/bin/env python3 tools/report_check.py $(OUT)/report.html --out $(OUT)/report-check

clean:
	rm -rf build .build

# --- gym-check: the chain at defaults on gymnasium families, judged in the real env ------------
# make gym-check [BIN=/other/worktree/.build/release] [GYM_FLAGS="--only mountaincar --episodes 50"]
# Families into build/gym/NAME (made once), runs into build/gym/runs/NAME, summary build/gym/results.md.
# Not part of test; the executables in BIN must exist (build them first: make build).
GYM_VENV ?= build/venv-gym
GYM_FLAGS ?=
.PHONY: gym-check
gym-check: gym-venv
	$(GYM_VENV)/bin/python tools/gym_check.py --bin $(BIN) --out build/gym $(GYM_FLAGS)

# make cartpole-check: a CartPole family from Minari datasets (tools/cartpole_check.py) through the
# chain at defaults, greedy policies rolled out in CartPole-v1; outputs in build/cartpole.
.PHONY: cartpole-check acrobot-check gym-venv
cartpole-check: gym-venv build
	$(GYM_VENV)/bin/python tools/cartpole_check.py --bin $(BIN) --out build/cartpole

# make acrobot-check: the same kind of trial on Acrobot-v1 (tools/acrobot_check.py); build/acrobot.
acrobot-check: gym-venv build
	$(GYM_VENV)/bin/python tools/acrobot_check.py --bin $(BIN) --out build/acrobot

# The venv of the gymnasium checks (tools/requirements-gym.txt), made or refreshed when needed.
gym-venv: deps
	@dpkg-query -W -f='$${Status}' python3-venv 2>/dev/null | grep -q "install ok installed" || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3 python3-venv >/dev/null; }
	@test -x $(GYM_VENV)/bin/python -a $(GYM_VENV)/.requirements-gym.txt -nt tools/requirements-gym.txt || \
	  { /usr/bin/python3 -m venv $(GYM_VENV) && $(GYM_VENV)/bin/pip install --quiet -r tools/requirements-gym.txt && \
	    cp tools/requirements-gym.txt $(GYM_VENV)/.requirements-gym.txt; }
