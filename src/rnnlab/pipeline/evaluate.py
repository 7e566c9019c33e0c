"""The evaluate stage: score the trained model on its task's held-out split.

The task's evaluate module (rnnlab.tasks.<task>.evaluate) computes the metrics and the
model's output per held-out example, and draws its plots into plots/<experiment>/eval;
this stage loads the model, writes metrics/<experiment>.json for `dvc metrics` and
predictions/<experiment>.csv, and logs all three to the experiment's run.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
from omegaconf import DictConfig, OmegaConf

from rnnlab.config.settings import experiment_paths
from rnnlab.data.predictions import PREDICTIONS_ARTIFACT, write_predictions
from rnnlab.data.splits import Splits, input_layout
from rnnlab.io import write_json
from rnnlab.models import load_model
from rnnlab.tasks import Task, get_task, load_prepared
from rnnlab.tasks.evaluation import EvaluationResult
from rnnlab.tracking import runs as tracking
from rnnlab.training.strategy import use_threads

log = logging.getLogger(__name__)


def cap_held_out(splits: Splits, max_examples: int | None) -> Splits:
    """Keep at most `max_examples` of the scored split, evenly spaced over all of it: IMDB's
    test reviews are grouped by label, so its first N would all be positive."""
    split = get_task(splits.spec.task).held_out
    x, y = splits.arrays[split]
    if max_examples is None or max_examples >= len(y):
        return splits
    keep = np.linspace(0, len(y) - 1, max_examples).round().astype(int)
    return replace(splits, arrays={**splits.arrays, split: (x[keep], y[keep])})


def score(task: Task, cfg: DictConfig, paths: dict[str, Path]) -> EvaluationResult:
    """The task's evaluation of the trained model (plots land in plots/<experiment>/eval)."""
    splits = cap_held_out(
        load_prepared(paths["data"], input_layout(cfg), held_out_only=True),
        OmegaConf.select(cfg, "evaluation.max_examples"),
    )
    model = load_model(paths["model"], cfg.model.type)
    out = paths["plots"] / "eval"
    out.mkdir(parents=True, exist_ok=True)
    return task.role("evaluate").evaluate(model, splits, out, cfg)


def evaluate(cfg: DictConfig, root: Path) -> dict:
    use_threads(cfg.trainer.threads)  # the training's count: the same numerics
    paths = experiment_paths(cfg, root)
    run_id = tracking.read_run_file(paths["model_dir"])["run_id"]
    tracking.connect(root)
    task = get_task(cfg.dataset.task)
    evaluation = score(task, cfg, paths)
    results = {"task": task.name, **evaluation.metrics}
    predictions = write_predictions(evaluation.predictions, paths["predictions"])
    with mlflow.start_run(run_id=run_id):
        mlflow.set_tags(
            {"dvc.evaluate_stage": f"evaluate@{cfg.name}", "eval.data": tracking.eval_data_id(cfg)}
        )
        mlflow.log_metrics({k: v for k, v in results.items() if isinstance(v, float)})
        mlflow.log_artifacts(str(paths["plots"] / "eval"), "evaluation")
        # Named as the ensemble stage names its own, so every run has the same artifact.
        mlflow.log_text(predictions, f"evaluation/{PREDICTIONS_ARTIFACT}")
    # The run id makes a new run's metrics file differ from an old one with equal scores,
    # so DVC re-runs compare and promote, which read the MLflow store rather than files.
    results["mlflow_run_id"] = run_id
    write_json(paths["metrics"], results)
    shown = {k: v for k, v in results.items() if k != "confusion_matrix"}
    log.info("evaluated %s: %s", cfg.name, shown)
    return results
