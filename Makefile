# mtfqi: every stage is a file target, so make reruns only what is stale.
#   make run     install what is missing, build, run every stage on the default data in data/
#   make test    the test suite
#   make bench   ingest benchmarks against the Python peers (writes build/bench/results.md)
SHELL := /bin/bash
.DELETE_ON_ERROR:

SWIFT ?= swift
CONFIG ?= release
BIN := .build/$(CONFIG)
OUT ?= build/run
DATA ?= data/synth
# The default data: training tasks and held-out tasks of the synthetic family (data/README.md).
TRAIN_LOGS ?= $(sort $(wildcard $(DATA)/train/*.csv))
NEW_LOGS ?= $(sort $(wildcard $(DATA)/new/*.csv))
SPACES ?= --observation-space discrete:50 --action-space discrete:4

APT_PACKAGES := libhdf5-dev zlib1g-dev libopenblas-dev liblapacke-dev pkg-config libfast-float-dev hdf5-tools
SOURCES := Package.swift $(shell find Sources -name '*.swift' -o -name '*.h' -o -name '*.cpp' -o -name '*.modulemap' 2>/dev/null)

.PHONY: all deps python-deps build run test bench clean

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

# Python packages for the h5py round-trip checks and the benchmark peers (tools/ only; the
# product itself needs no Python).
python-deps:
	@python3 -c "import h5py, numpy, pandas" 2>/dev/null || python3 -m pip install --quiet -r tools/requirements.txt

$(BIN)/mtfqi-ingest: $(SOURCES) | deps
	$(SWIFT) build -c $(CONFIG)
	@touch $@

build: $(BIN)/mtfqi-ingest

# --- The pipeline on the default data -------------------------------------------------------
$(OUT)/store.h5: $(TRAIN_LOGS) $(BIN)/mtfqi-ingest
	@mkdir -p $(OUT)
	$(BIN)/mtfqi-ingest $(TRAIN_LOGS) $(SPACES) -o $@

$(OUT)/new.h5: $(NEW_LOGS) $(BIN)/mtfqi-ingest
	@mkdir -p $(OUT)
	$(BIN)/mtfqi-ingest $(NEW_LOGS) $(SPACES) -o $@

run: $(OUT)/store.h5 $(OUT)/new.h5
	$(BIN)/mtfqi-inspect $(OUT)/store.h5
	$(BIN)/mtfqi-inspect $(OUT)/new.h5

# --- Tests -----------------------------------------------------------------------------------
test: deps python-deps
	$(SWIFT) build
	$(SWIFT) test

# --- Benchmarks (not part of test) ----------------------------------------------------------
bench: deps python-deps build
	@test -f build/bench/bench.csv || python3 tools/make_bench_data.py --out build/bench
	python3 tools/bench_ingest.py --binary $(BIN)/mtfqi-ingest --data build/bench --runs 3

clean:
	rm -rf build .build
