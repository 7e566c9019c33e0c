"""MLflow tracking: one experiment per task, one run per pipeline experiment.

Embedded default: `sqlite:///<repo>/mlflow.db` with artifacts in `<repo>/mlartifacts`,
both absolute and resolved from the real repository even when DVC runs a stage in a
temporary copy (`dvc exp run --temp/--queue` works under `<repo>/.dvc/tmp/exps/`).
`MLFLOW_TRACKING_URI` selects a real server instead; it is checked before any training.
train opens the run and stores its id in `models/<experiment>/mlflow_run.json` (a DVC
output), so evaluate logs into the same run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import mlflow
import yaml
from omegaconf import DictConfig, OmegaConf

from rnnlab.config.settings import project_home
from rnnlab.errors import RnnlabError
from rnnlab.io import read_json, write_json
from rnnlab.tasks import get_task
from rnnlab.training.checkpoints import can_resume

log = logging.getLogger(__name__)
TRACKING_ENV = "MLFLOW_TRACKING_URI"
STORE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
RUN_FILE = "mlflow_run.json"
# Set by `rnnlab train -m` for its jobs: the MLflow run id of the sweep's parent run.
PARENT_RUN_ENV = "RNNLAB_PARENT_RUN_ID"
# Set by `rnnlab repro` (make repro) for its stages: the reproduction's id, tagged on every
# run it trains, and its parent run in each MLflow experiment (JSON: experiment id -> run id).
PIPELINE_ENV = "RNNLAB_PIPELINE_ID"
PIPELINE_PARENTS_ENV = "RNNLAB_PIPELINE_PARENTS"
PIPELINE_TAG = "rnnlab.pipeline_id"
CHAMPION = "champion"


class TrackingError(RnnlabError):
    """The tracking server or store cannot be used."""


def tracking_uri(root: Path) -> str:
    return os.environ.get(TRACKING_ENV) or f"sqlite:///{project_home(root) / STORE_FILE}"


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    if not is_server(uri):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingError(
            f"cannot reach the MLflow tracking server at {uri} ({exc}); start it, fix "
            f"{TRACKING_ENV}, or unset {TRACKING_ENV} to log to the embedded sqlite store. "
            "Nothing was trained."
        ) from exc


def connect(root: Path) -> str:
    """Point MLflow at the configured store; fail now if a server is unreachable."""
    uri = tracking_uri(root)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def task_experiment(task: str, root: Path) -> str:
    """Id of the task's MLflow experiment, created with an absolute artifact root if new."""
    name = get_task(task).mlflow_experiment
    existing = mlflow.get_experiment_by_name(name)
    if existing:
        return existing.experiment_id
    location = (
        None if is_server(tracking_uri(root)) else (project_home(root) / ARTIFACT_DIR).as_uri()
    )
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Parallel runs race to create it: another process may have won since the lookup.
        existing = mlflow.get_experiment_by_name(name)
        if existing is None:
            raise
        return existing.experiment_id


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for key, value in node.items():
            out |= flatten(value, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): str(node)}


def run_params(cfg: DictConfig) -> dict[str, str]:
    return flatten(OmegaConf.to_container(cfg, resolve=True))


def git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def data_hashes(root: Path, prepared_dir: str, source: str | None) -> dict[str, str]:
    """md5 of the prepared data and of its raw download, as recorded in dvc.lock."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    tags = {}
    for stage, entry in stages.items():
        for out in entry.get("outs", []):
            if out["path"] == prepared_dir or stage == f"download@{source}":
                label = "prepared" if out["path"] == prepared_dir else Path(out["path"]).name
                tags[f"data.{label}.md5"] = out.get("md5", "")
    return tags


def lineage_tags(cfg: DictConfig, root: Path, stage: str) -> dict[str, str]:
    prepared = f"{cfg.paths.prepared}/{cfg.dataset.name}"
    tags = {
        "git.commit": git(root, "rev-parse", "HEAD"),
        "git.dirty": str(bool(git(root, "status", "--porcelain", "--untracked-files=no"))),
        "dvc.stage": stage,
        "experiment": cfg.name,
        "task": cfg.dataset.task,
        "model.type": cfg.model.type,
        **data_hashes(root, prepared, cfg.dataset.get("source")),
    }
    if exp_name := os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = exp_name
    if parent := os.environ.get(PARENT_RUN_ENV):
        # A job of a Hydra sweep (`rnnlab train -m`): MLflow shows it under the sweep's run.
        tags["mlflow.parentRunId"] = parent
        tags["dvc.stage"] = "hydra multirun (outside the DVC pipeline)"
    return tags


def pipeline_tags(experiment_id: str) -> dict[str, str]:
    """Under `rnnlab repro`: the reproduction's id and, unless a sweep's run is the parent,
    its parent run in this MLflow experiment, so the UI shows one reproduction's runs
    together."""
    pipeline = os.environ.get(PIPELINE_ENV)
    if not pipeline:
        return {}
    tags = {PIPELINE_TAG: pipeline}
    parents = json.loads(os.environ.get(PIPELINE_PARENTS_ENV) or "{}")
    if experiment_id in parents and not os.environ.get(PARENT_RUN_ENV):
        tags["mlflow.parentRunId"] = parents[experiment_id]
    return tags


def start_pipeline_runs(root: Path, tasks: list[str], pipeline: str) -> dict[str, str]:
    """One parent run per task's MLflow experiment for the reproduction `pipeline`:
    experiment id -> run id (left running until `end_pipeline_runs`)."""
    connect(root)
    client = mlflow.MlflowClient()
    parents = {}
    for task in sorted(set(tasks)):
        experiment_id = task_experiment(task, root)
        run = client.create_run(
            experiment_id, run_name=f"pipeline {pipeline}", tags={PIPELINE_TAG: pipeline}
        )
        parents[experiment_id] = run.info.run_id
    return parents


def end_pipeline_runs(parents: dict[str, str], ok: bool) -> None:
    client = mlflow.MlflowClient()
    for run_id in parents.values():
        client.set_terminated(run_id, "FINISHED" if ok else "FAILED")


def resumable_run_id(checkpoint: Path) -> str | None:
    path = checkpoint / RUN_FILE
    return read_json(path)["run_id"] if can_resume(checkpoint) and path.is_file() else None


def start_training_run(cfg: DictConfig, root: Path, checkpoint: Path):
    """Start (or, after an interruption, resume) the experiment's run; log params and tags."""
    connect(root)
    experiment_id = task_experiment(cfg.dataset.task, root)
    run_id = resumable_run_id(checkpoint)
    run = mlflow.start_run(
        run_id=run_id, experiment_id=None if run_id else experiment_id, run_name=cfg.name
    )
    if run_id is None:
        mlflow.log_params(run_params(cfg))
        checkpoint.mkdir(parents=True, exist_ok=True)
        write_json(checkpoint / RUN_FILE, {"run_id": run.info.run_id})
    mlflow.set_tags(lineage_tags(cfg, root, f"train@{cfg.name}") | pipeline_tags(experiment_id))
    return run


def log_epoch(values: dict, epoch: int, prefix: str = "") -> None:
    metrics = {f"{prefix}{k}": float(v) for k, v in values.items() if v is not None}
    if metrics:
        mlflow.log_metrics(metrics, step=epoch)


def log_history(records: list[dict], prefix: str = "") -> None:
    """A finished run's epochs (the select stage's validation run), as EpochLogger logs them."""
    for row in records:
        values = {k: v for k, v in row.items() if k != "epoch"}
        log_epoch(values, int(row["epoch"]), prefix)


def log_distribution(strategy) -> None:
    """How the run was spread: strategy class, replicas in sync, and how many workers."""
    resolver = getattr(strategy, "cluster_resolver", None)
    workers = len(resolver.cluster_spec().as_dict().get("worker", [])) if resolver else 1
    mlflow.set_tags(
        {
            "distribute.strategy": type(strategy).__name__,
            "distribute.replicas": str(strategy.num_replicas_in_sync),
            "distribute.workers": str(max(workers, 1)),
        }
    )


SPLIT_CONTEXT = {"train": "training", "val": "validation", "test": "test"}
LOG_INPUT_ATTEMPTS = 4


def log_input(dataset, context: str) -> None:
    for attempt in range(LOG_INPUT_ATTEMPTS):
        try:
            mlflow.log_input(dataset, context=context)
            return
        except mlflow.exceptions.MlflowException:
            # Parallel runs logging the same dataset race on the server's unique
            # (experiment, name, digest) row; once one insert wins, a retry links to it.
            if attempt == LOG_INPUT_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def local_source(path: Path):
    """The prepared data's folder as MLflow's local-file dataset source, named by its type:
    MLflow resolving a bare path finds two local sources (one per artifact scheme, "" and
    "file"), and warns that the source "can be interpreted in multiple ways"."""
    from mlflow.data.dataset_source_registry import get_dataset_source_from_json

    return get_dataset_source_from_json(json.dumps({"uri": str(path)}), source_type="local")


def log_datasets(splits, cfg: DictConfig, data_dir: Path) -> None:
    source = local_source(data_dir)
    for split, (x, y) in splits.arrays.items():
        if len(x):
            name = f"{cfg.dataset.name}/{split}"
            dataset = mlflow.data.from_numpy(x, targets=y, source=source, name=name)
            log_input(dataset, SPLIT_CONTEXT[split])


def write_run_file(model_dir: Path, run_id: str) -> None:
    write_json(model_dir / RUN_FILE, {"run_id": run_id})


def read_run_file(model_dir: Path) -> dict:
    path = model_dir / RUN_FILE
    if not path.is_file():
        raise TrackingError(f"{path} is missing: train this experiment first (dvc repro train@...)")
    return read_json(path)


def eval_data_id(cfg: DictConfig) -> str:
    """Identity of the held-out data a task is scored on; only equal ids are comparable.

    The task says what identifies its held-out split; a capped evaluation (quick profile)
    adds its cap, so its scores never compete with whole-split ones.
    """
    cap = OmegaConf.select(cfg, "evaluation.max_examples")
    return get_task(cfg.dataset.task).held_out_id(cfg.dataset) + (f"/max{cap}" if cap else "")


def register(task: str, model_uri: str, run_id: str) -> int:
    name = get_task(task).registered_model
    version = mlflow.register_model(model_uri, name, tags={"run_id": run_id})
    return int(version.version)
