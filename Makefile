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
# Which experiments `make repro` runs: tuned (default), seeds (the notebooks' recipes),
# candidates (measured, left out of tuned) or all.
SUITE ?= tuned
# full (default) or quick: every experiment trains one short epoch and is scored on 2,000
# held-out examples, to see the pipeline work.
PROFILE ?= full
# V=1: every stage's and library's output (rnnlab -v); quiet by default.
V ?=
RNNLAB := $(VENV)/bin/rnnlab$(if $(V), -v)

.PHONY: install repro compose retrain test test-slow lint ui serve clean-venv status FORCE server \
	team-remote pull push retrain-summary pr-paths

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
	$(RNNLAB) retrain suite=$(SUITE) profile=$(PROFILE)

# The scheduled workflow's other steps (.github/workflows/retrain.yml runs these targets in
# this order; tests/test_team.py runs the workflow's own steps against a local team setup).
# The team's DVC remote, kept out of the repo (.dvc/config.local); S3_ENDPOINT_URL only for
# an S3 service other than AWS (MinIO, moto). Credentials: the usual AWS_* variables.
DVC_REMOTE_URL ?=
S3_ENDPOINT_URL ?=
team-remote: install
	test -n "$(DVC_REMOTE_URL)" || { echo "set DVC_REMOTE_URL, e.g. s3://bucket/rnnlab"; exit 2; }
	$(VENV)/bin/dvc remote add --local --default --force team "$(DVC_REMOTE_URL)"
	$(if $(S3_ENDPOINT_URL),$(VENV)/bin/dvc remote modify --local team endpointurl "$(S3_ENDPOINT_URL)")

pull: install
	$(VENV)/bin/dvc pull --allow-missing

push: install
	$(VENV)/bin/dvc push

# The job summary: metrics against $(BASE), the retraining report, the leaderboard.
BASE ?= main
retrain-summary: install
	@echo "## Metrics diff against $(BASE)"
	@$(VENV)/bin/dvc metrics diff $(BASE) --md || true
	@echo
	@cat reports/retrain.md 2>/dev/null || echo "no retrain report (the run failed before it)"
	@echo
	@cat reports/leaderboard.md 2>/dev/null || true

# What the retraining pull request commits: every file DVC keeps in git (`rnnlab
# git-outputs`), as the step output `paths` appended to $(OUTPUT) ($GITHUB_OUTPUT in CI).
OUTPUT ?= /dev/stdout
pr-paths: install
	@{ echo "paths<<EOF"; $(VENV)/bin/rnnlab git-outputs; echo "EOF"; } >> "$(OUTPUT)"

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

# The team's tracking server (docs/scaling.md): runs and the registry in PostgreSQL, artifacts
# proxied to an S3 bucket (clients need no bucket credentials), MLflow's basic-auth app.
# The server itself needs the bucket's AWS_* variables (and MLFLOW_S3_ENDPOINT_URL for
# MinIO or moto), MLFLOW_FLASK_SERVER_SECRET_KEY (the auth app's CSRF key, the same on every
# server) and, on its first start, MLFLOW_AUTH_ADMIN_PASSWORD. 127.0.0.1 unless told:
# make server SERVER_HOST=0.0.0.0 BACKEND_STORE_URI=postgresql://... ARTIFACTS_DESTINATION=s3://...
SERVER_HOST ?= 127.0.0.1
SERVER_PORT ?= 5000
SERVER_WORKERS ?= 2
BACKEND_STORE_URI ?= postgresql://mlflow@127.0.0.1:5432/mlflow
ARTIFACTS_DESTINATION ?= s3://rnnlab-team/mlartifacts
AUTH_CONFIG ?= $(CURDIR)/deploy/basic_auth.ini
# MLflow's GenAI job runners (seven processes) are off: the pipeline has no use for them.
SERVER_JOBS ?= false
server: install
	MLFLOW_AUTH_CONFIG_PATH=$(AUTH_CONFIG) MLFLOW_SERVER_ENABLE_JOB_EXECUTION=$(SERVER_JOBS) \
		$(VENV)/bin/mlflow server --app-name basic-auth \
		--backend-store-uri $(BACKEND_STORE_URI) --artifacts-destination $(ARTIFACTS_DESTINATION) \
		--host $(SERVER_HOST) --port $(SERVER_PORT) --workers $(SERVER_WORKERS)

clean-venv:
	rm -rf $(VENV)
