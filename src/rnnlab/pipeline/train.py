"""The train stage: fit (or refit on train+val for the selected epochs) and save the model.

Writes models/<experiment>/ (model.keras, train_info.json, mlflow_run.json) and
plots/<experiment>/history.csv; the serving model and the learning curves come from the
package stage, so a change to them never retrains. Opens the experiment's MLflow run, which
package and evaluate log into too. Resumable: an interrupted fit continues from its last
epoch (training.checkpoints).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import mlflow
from omegaconf import DictConfig, OmegaConf

from rnnlab.config.settings import experiment_paths
from rnnlab.data.splits import input_layout
from rnnlab.io import atomic_dir, write_json
from rnnlab.pipeline.select import read_selection
from rnnlab.tasks import load_prepared
from rnnlab.tracking import progress
from rnnlab.tracking import runs as tracking
from rnnlab.training.checkpoints import start_fresh_if_not_resuming, worker_checkpoint
from rnnlab.training.fit import model_summary
from rnnlab.training.selection import Fitted, Selection, fit_to_keep
from rnnlab.training.strategy import is_chief, make_strategy, use_threads, worker_label

log = logging.getLogger(__name__)
INFO_FILE = "train_info.json"
CHECKPOINT_PHASE = "train"


def train(cfg: DictConfig, root: Path, selection: Selection | None = None) -> dict:
    """Train the model to keep; `selection` defaults to the select stage's record."""
    use_threads(cfg.trainer.threads)  # first: both are fixed once TensorFlow starts
    strategy = make_strategy(cfg.trainer.strategy)
    paths = experiment_paths(cfg, root)
    splits = load_prepared(paths["data"], input_layout(cfg))
    selection = selection or read_selection(paths["selection"])
    checkpoint = paths["checkpoint"] / CHECKPOINT_PHASE
    if not is_chief(strategy):
        return train_as_worker(cfg, splits, selection, checkpoint, strategy)
    start_fresh_if_not_resuming(checkpoint, cfg)
    with tracking.start_training_run(cfg, root, checkpoint) as run:
        tracking.log_datasets(splits, cfg, paths["data"])
        tracking.log_distribution(strategy)
        tracking.log_history(selection.history)  # the select stage's validation run
        prefix = "refit_" if selection.refit else ""
        reporters = progress.reporters(cfg, root, "train", prefix)
        fitted = fit_to_keep(cfg, splits, selection, checkpoint, reporters, strategy)
        info = fitted.info()
        with atomic_dir(paths["model_dir"]) as folder:
            fitted.model.save(folder / paths["model"].name)
            write_json(folder / INFO_FILE, info)
            tracking.write_run_file(folder, run.info.run_id)
        paths["plots"].mkdir(parents=True, exist_ok=True)
        fitted.history.to_csv(paths["history"], index=False)
        log_training(cfg, fitted, info)
    shutil.rmtree(paths["checkpoint"], ignore_errors=True)
    log.info("trained %s: %s", cfg.name, info)
    return result(fitted, info, paths["model"], run.info.run_id)


def train_as_worker(cfg: DictConfig, splits, selection, checkpoint: Path, strategy) -> dict:
    """A non-chief worker of a multi-worker run: it trains its share in lock step with the
    chief but logs nothing and writes no outputs; its resumable state lives in a folder of
    its own beside the chief's (which the chief removes when it ends), so a shared file
    system sees no two writers."""
    checkpoint = worker_checkpoint(checkpoint, worker_label(strategy))
    start_fresh_if_not_resuming(checkpoint, cfg)
    fitted = fit_to_keep(cfg, splits, selection, checkpoint, [], strategy)
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    log.info("worker %s of %s done: %s", worker_label(strategy), cfg.name, fitted.info())
    return result(fitted, fitted.info(), None, None)


def result(fitted: Fitted, info: dict, model_path: Path | None, run_id: str | None) -> dict:
    return {
        "history": fitted.history,
        "selection": fitted.selection,
        "kept_epochs": len(fitted.history),
        "seconds": info["seconds"],
        "model_path": model_path,
        "run_id": run_id,
    }


def log_training(cfg: DictConfig, fitted: Fitted, info: dict) -> None:
    mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
    mlflow.log_text(model_summary(fitted.model), "model_summary.txt")
    mlflow.log_text(fitted.history.to_csv(index=False), "training/history.csv")
    metrics = {
        "train_seconds": info["seconds"],
        "epochs_trained": info["epochs"],
        "model_params": info["params"],
    }
    if "refit_epochs" in info:
        metrics |= {"refit_epochs": info["refit_epochs"], "refit_seconds": info["refit_seconds"]}
    mlflow.log_metrics(metrics)
