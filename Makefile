# mtfqi: every stage is a file target, so make reruns only what is stale.
#   make run       install what is missing, build, run every stage on the default data in data/
#   make test      the test suite (what CI runs; includes a 2 s budget per fuzz harness)
#   make fuzz      seeded mutation fuzzing for FUZZ_SECONDS per harness (FUZZ_SEED, findings in build/fuzz-findings)
#   make bench     benchmarks against the Python peers (build/bench/*/results.md)
#   make scaling   the paper's scaling sweeps (SCALING=quick for a fast variant)
#
# Your own logs: make run LOGS=path/to/logs NEW_TASK=path/to/new-task-logs OUT=build/mine \
#   CONFIG=my-train.json TRUTH= FEATURES=one-hot SPACES="--observation-space discrete:50 --action-space discrete:4"
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
LOG_PATTERNS := -name '*.csv' -o -name '*.csv.gz' -o -name '*.jsonl' -o -name '*.jsonl.gz' -o -name '*.ndjson' -o -name '*.hdf5' -o -name '*.h5'
# Training logs and the new task's logs: files or folders (every log file below a folder).
LOGS ?= $(DATA)/train
NEW_TASK ?= $(DATA)/new
TRAIN_LOGS := $(sort $(shell find $(LOGS) -maxdepth 1 -type f \( $(LOG_PATTERNS) \) 2>/dev/null))
NEW_LOGS := $(sort $(shell find $(NEW_TASK) -maxdepth 1 -type f \( $(LOG_PATTERNS) \) 2>/dev/null))
# Declared spaces for the default data (a 100-row log need not visit every state).
SPACES ?= --observation-space discrete:50 --action-space discrete:4
# Training settings (schemas/train-config.schema.json); the default names the feature table and truth.
CONFIG ?= data/train.json
# Flags that override the config (e.g. --feature-table FILE --truth FILE --rank 8).
TRAIN_FLAGS ?=
# The synthetic family's exact truth; empty for logs without one (held-out Bellman error instead).
TRUTH ?= $(DATA)/truth.h5
# Base features for coverage (schemas/coverage.md): table:FILE, one-hot, raw, fourier.
FEATURES ?= table:$(DATA)/features.h5
# Coverage gates: make stops before training when the data cannot support it (exit 3).
COVERAGE_GATES ?= --max-unseen-share 0 --max-concentrability 50 --min-lambda 1e-3 --max-kappa 20

APT_PACKAGES := libhdf5-dev zlib1g-dev libopenblas-dev liblapacke-dev pkg-config libfast-float-dev hdf5-tools time
SOURCES := Package.swift $(shell find Sources -name '*.swift' -o -name '*.h' -o -name '*.c' -o -name '*.cpp' -o -name '*.modulemap' 2>/dev/null)
STAMP := $(BIN)/.mtfqi-built

.PHONY: all deps python-deps build run test fuzz bench scaling coverage-gate clean

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

# Python packages for tools/ (h5py round-trip checks, numpy reference, benchmark peers); the
# product itself needs no Python.
python-deps:
	@python3 -c "import h5py, numpy, pandas" 2>/dev/null || python3 -m pip install --quiet -r tools/requirements.txt

$(STAMP): $(SOURCES) | deps
	$(SWIFT) build -c $(CONFIG_BUILD) $(SWIFT_BUILD_FLAGS)
	@touch $@

build: $(STAMP)

# --- The pipeline -----------------------------------------------------------------------------
$(OUT)/store.h5: $(TRAIN_LOGS) $(STAMP)
	@mkdir -p $(OUT)
	$(BIN)/mtfqi-ingest $(TRAIN_LOGS) $(SPACES) -o $@

$(OUT)/new.h5: $(NEW_LOGS) $(STAMP)
	@mkdir -p $(OUT)
	$(BIN)/mtfqi-ingest $(NEW_LOGS) $(SPACES) -o $@

$(OUT)/coverage.json: $(OUT)/store.h5
	$(BIN)/mtfqi-coverage $< $(if $(TRUTH),--truth $(TRUTH)) --features $(FEATURES) $(COVERAGE_GATES) -o $@

$(OUT)/model.h5: $(OUT)/store.h5 $(OUT)/coverage.json $(CONFIG)
	$(BIN)/mtfqi-train $< -o $@ --config $(CONFIG) $(TRAIN_FLAGS) --q-tables $(OUT)/q

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

run: $(OUT)/metrics.json
	@cat $(OUT)/metrics.txt
	@echo "Outputs in $(OUT)/: store.h5 new.h5 coverage.json model.h5 q/ representation.h5 heads/ metrics.json"

# The coverage gate alone (exit 3 when a gate fails).
coverage-gate: $(OUT)/store.h5
	$(BIN)/mtfqi-coverage $< $(if $(TRUTH),--truth $(TRUTH)) --features $(FEATURES) $(COVERAGE_GATES) --quiet

# --- Tests ------------------------------------------------------------------------------------
test: deps python-deps
	$(SWIFT) build
	$(SWIFT) test

# Seeded mutation fuzzing (Tests/MTFQITests/Fuzz): the CSV / JSON Lines parsers (the C fast paths
# against the Swift parsers) and every HDF5 reader, FUZZ_SECONDS per harness.
FUZZ_SECONDS ?= 60
FUZZ_SEED ?= 1
fuzz: deps
	$(SWIFT) build
	MTFQI_FUZZ_SECONDS=$(FUZZ_SECONDS) MTFQI_FUZZ_SEED=$(FUZZ_SEED) $(SWIFT) test --filter FuzzTests

# --- Benchmarks and scaling (not part of test) ------------------------------------------------
bench: deps python-deps build
	@test -f build/bench/bench.csv || python3 tools/make_bench_data.py --out build/bench
	python3 tools/bench_ingest.py --binary $(BIN)/mtfqi-ingest --data build/bench --runs 3
	python3 tools/bench_train.py --bin $(BIN) --out build/bench/train --runs 3

scaling: deps python-deps build
	python3 tools/scaling.py --bin $(BIN) $(if $(filter quick,$(SCALING)),--quick --out build/scaling-quick,--out build/scaling)

clean:
	rm -rf build .build
