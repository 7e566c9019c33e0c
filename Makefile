# Two entry points for a fresh clone: `make repro` (whole pipeline) and `make test`.
# Both create .venv and install the package when needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
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
# V=1: every stage's and library's output (rnnlab -v); quiet by default.
V ?=
RNNLAB := $(VENV)/bin/rnnlab$(if $(V), -v)
# Extra install groups, e.g. REMOTE_EXTRA=s3 for an S3 DVC remote.
REMOTE_EXTRA ?=
comma := ,
EXTRAS := dev$(if $(REMOTE_EXTRA),$(comma)$(REMOTE_EXTRA))

.PHONY: install repro status compose retrain test test-slow lint ui serve clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

compose: install
	$(RNNLAB) compose suite=$(SUITE) profile=$(PROFILE)

# `dvc repro` in two lanes at once (conf/pipeline.yaml: repro); plain `dvc repro` gives the
# same models one stage at a time. Shows where the pipeline stands as it runs; one run per
# checkout (a second one shows the status and stops).
repro: compose
	$(RNNLAB) repro

# Where the pipeline stands: each experiment's stages done, running or pending, and the end.
status: install
	$(RNNLAB) status

# What the scheduled workflow runs: reproduce, promote better models, write reports/retrain.md.
retrain: install
	$(RNNLAB) retrain suite=$(SUITE)

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
