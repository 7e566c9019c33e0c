# Two entry points for a fresh clone: `make repro` (whole pipeline) and `make test`.
# Both create .venv and install the package when needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The interpreter that makes the venv: any Python that pyproject.toml's requires-python
# takes, e.g. `make test PYTHON=python3.12`. Looked up on the PATH less this venv
# (activated, or put first below), since making the venv anew deletes its python.
PYTHON ?= python3
PYTHON_BIN := $(shell PATH='$(subst $(abspath $(VENV))/bin:,,$(PATH))' command -v $(PYTHON))
# Optional install groups (pyproject.toml), comma-separated: gpu (TensorFlow with CUDA for
# NVIDIA GPUs on Linux x86_64, in place of the CPU build), s3 (dvc-s3 for an S3 DVC remote).
# Unset, it keeps those the venv was made with (see STAMP below); `EXTRAS=` drops them.
comma := ,
space := $(subst ,, )
ifeq ($(origin EXTRAS),undefined)
EXTRAS := $(subst $(space),$(comma),$(filter-out dev cpu,$(subst $(comma), ,$(shell \
	sed -n 's/.*\[\(.*\)\]$$/\1/p' $(STAMP) 2>/dev/null))))
endif
# DVC stages call `rnnlab`; put the venv first on PATH so they work without activating it.
export PATH := $(abspath $(VENV))/bin:$(PATH)
# An air-gapped machine points this at a local mirror (a directory with the files
# under their official names and a SHA256SUMS manifest).
export RNNLAB_MIRROR
# Which experiments `make repro` runs: tuned (default), seeds (the notebooks' recipes) or all.
SUITE ?= tuned
# full (default) or quick: every experiment trains one short epoch and is scored on 2,000
# held-out examples, to see the pipeline work.
PROFILE ?= full

.PHONY: install repro compose retrain test test-slow lint ui serve clean-venv FORCE

# The groups pip installs: dev (test and lint tools) always, TensorFlow's CPU build unless
# EXTRAS has gpu (the two exclude each other: both are the `tensorflow` module), then EXTRAS.
EXTRAS_LIST := $(subst $(comma), ,$(EXTRAS))
ifneq ($(filter cpu,$(EXTRAS_LIST)),)
ifneq ($(filter gpu,$(EXTRAS_LIST)),)
$(error EXTRAS names both cpu and gpu: TensorFlow takes one build, drop one of them)
endif
endif
TF_BUILD := $(if $(filter gpu,$(EXTRAS_LIST)),,cpu)
GROUPS := $(subst $(space),$(comma),$(sort dev $(TF_BUILD) $(EXTRAS_LIST)))
# The stamp holds what made the venv (interpreter and groups). When that differs, as after
# PYTHON= or EXTRAS= changes, the venv is made anew: pip cannot swap one TensorFlow build for
# the other in place, nor a venv's Python.
VENV_ID := $(if $(PYTHON_BIN),$(shell $(PYTHON_BIN) -c \
	'import platform, sys; print(platform.python_version(), sys.base_prefix)' 2>/dev/null)) [$(GROUPS)]
ifneq ($(VENV_ID),$(shell cat $(STAMP) 2>/dev/null))
$(STAMP): FORCE
endif

$(STAMP): pyproject.toml
	@test -n "$(PYTHON_BIN)" || { echo "rnnlab: no '$(PYTHON)' on the PATH: install a Python \
	that README.md names and name it, e.g. make $(or $(MAKECMDGOALS),install) PYTHON=python3.12" >&2; exit 1; }
	@$(PYTHON_BIN) scripts/check_python.py $(or $(MAKECMDGOALS),install)
	test "$$(cat $(STAMP) 2>/dev/null)" = "$(VENV_ID)" || ! test -f $(VENV)/pyvenv.cfg || rm -rf $(VENV)
	test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(GROUPS)]"
	echo "$(VENV_ID)" > $(STAMP)

install: $(STAMP)

FORCE:

compose: install
	$(VENV)/bin/rnnlab compose suite=$(SUITE) profile=$(PROFILE)

# `dvc repro` in two lanes at once (conf/pipeline.yaml: repro); plain `dvc repro` gives the
# same models one stage at a time.
repro: compose
	$(VENV)/bin/rnnlab repro

# What the scheduled workflow runs: reproduce, promote better models, write reports/retrain.md.
retrain: install
	$(VENV)/bin/rnnlab retrain suite=$(SUITE)

# The default suite runs in two pytest-xdist workers, one test file each at a time (files
# share fixtures such as a trained champion), in collection order, which tests/conftest.py
# starts with the longest files; the slow tests stay serial (they time kills).
TEST_WORKERS ?= 2
test: install
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-slow: install
	$(VENV)/bin/python -m pytest -q -m slow

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/actionlint .github/workflows/*.yml

# The MLflow UI on the pipeline's embedded store (127.0.0.1 only). With a tracking server,
# open that server's UI instead.
UI_PORT ?= 5000
ui: install
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db \
		--default-artifact-root $(CURDIR)/mlartifacts --host 127.0.0.1 --port $(UI_PORT)

# REST scoring of a registered model (raw inputs), e.g. make serve MODEL=models:/rnnlab-imdb@champion
MODEL ?= models:/rnnlab-imdb@champion
SERVE_PORT ?= 5001
serve: install
	MLFLOW_TRACKING_URI=sqlite:///$(CURDIR)/mlflow.db $(VENV)/bin/mlflow models serve \
		-m $(MODEL) --env-manager local --host 127.0.0.1 --port $(SERVE_PORT)

clean-venv:
	rm -rf $(VENV)
