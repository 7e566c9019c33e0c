"""The package stage: the trained model as a serving model, its learning curves, its
registry version.

Writes serving/<experiment>/ (an MLflow pyfunc model that takes raw inputs, built by the
task's serve module) and plots/<experiment>/learning_curves.png, logs both to the
experiment's run and registers the model under the task's name. It reads the trained
model but never trains: a fix to a wrapper or a plot re-runs this stage only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import pandas as pd
from omegaconf import DictConfig

from rnnlab.config.settings import experiment_paths
from rnnlab.io import atomic_dir, read_json
from rnnlab.plots import learning_curves
from rnnlab.serving.package import save_and_log
from rnnlab.tasks import get_task
from rnnlab.tracking import runs as tracking

log = logging.getLogger(__name__)
CURVES_FILE = "learning_curves.png"


def package(cfg: DictConfig, root: Path) -> dict:
    paths = experiment_paths(cfg, root)
    run_id = tracking.read_run_file(paths["model_dir"])["run_id"]
    tracking.connect(root)
    task = get_task(cfg.dataset.task)
    with mlflow.start_run(run_id=run_id):
        mlflow.set_tag("dvc.package_stage", f"package@{cfg.name}")
        with atomic_dir(paths["serving"]) as folder:
            model_uri = save_and_log(folder, task, paths["model"], paths["data"], cfg)
        curves = paths["plots"] / CURVES_FILE
        learning_curves(curves_history(paths), curves, cfg.name)
        mlflow.log_artifact(str(curves), "training")
        version = tracking.register(task.name, model_uri, run_id)
        mlflow.set_tag("registry.version", version)
    log.info("packaged %s: %s (registry version %s)", cfg.name, model_uri, version)
    return {"model_uri": model_uri, "version": version, "serving": paths["serving"]}


def curves_history(paths: dict[str, Path]) -> pd.DataFrame:
    """The epochs to plot: the validation run's (the select stage's, for a refit), so the
    curves show validation beside training."""
    selected = read_json(paths["selection"])["history"]
    return pd.DataFrame(selected) if selected else pd.read_csv(paths["history"])
