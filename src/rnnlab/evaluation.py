"""evaluate(cfg): load model.keras, score it on the held-out split, write metrics and plots.

IMDB: official test set. Shakespeare: the last 10% of the text (validation tail).
Sine: the test curve, which continues after the training curve.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from sklearn import metrics as skm

from rnnlab import plots
from rnnlab.datasets import Splits, held_out, load_splits, to_dataset
from rnnlab.distribute import use_threads
from rnnlab.generation import CharGenerator
from rnnlab.io import write_json
from rnnlab.models import load_model
from rnnlab.serving import predicted_labels
from rnnlab.training import MODEL_FILE, bucket_padding, experiment_paths, input_layout

log = logging.getLogger(__name__)
EVAL_BATCH = 256
SAMPLE_PROMPT = "ROMEO:"
SAMPLE_LENGTH = 500
SAMPLE_TEMPERATURE = 0.8


def review_probabilities(model: keras.Model, x: np.ndarray, padding: str | None) -> np.ndarray:
    """P(positive) per review, in x's order. A model trained on length-bucketed batches is
    also scored on them (trimmed to their longest review): the same outputs, in less time."""
    if not padding:
        return model.predict(x, batch_size=EVAL_BATCH, verbose=0).ravel().astype(np.float64)
    prob = np.empty(len(x), dtype=np.float64)
    for batch, index in to_dataset(x, np.arange(len(x)), EVAL_BATCH, False, 0, padding):
        prob[index.numpy()] = np.asarray(model.predict_on_batch(batch)).ravel()
    return prob


def evaluate_imdb(model: keras.Model, splits: Splits, out: Path, cfg: DictConfig) -> dict:
    x, y = splits.arrays[held_out(splits.spec.task)]
    prob = review_probabilities(model, x, bucket_padding(cfg))
    pred = predicted_labels(prob)
    matrix = skm.confusion_matrix(y, pred, labels=[0, 1])
    auc = float(skm.roc_auc_score(y, prob))
    fpr, tpr, _ = skm.roc_curve(y, prob)
    plots.confusion_matrix(matrix, out / "confusion_matrix.png", f"{cfg.name} (test)")
    plots.roc_curve(fpr, tpr, auc, out / "roc.png", f"{cfg.name} ROC (test)")
    return {
        "test_accuracy": float(skm.accuracy_score(y, pred)),
        "test_loss": float(skm.log_loss(y, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "test_roc_auc": auc,
        "test_f1": float(skm.f1_score(y, pred)),
        "confusion_matrix": matrix.tolist(),
        "test_examples": len(y),
    }


def evaluate_shakespeare(model: keras.Model, splits: Splits, out: Path, cfg: DictConfig) -> dict:
    x, y = splits.arrays[held_out(splits.spec.task)]
    nats = float(
        model.evaluate(to_dataset(x, y, 64, False, 0), verbose=0, return_dict=True)["loss"]
    )
    sample = CharGenerator(model, splits.vocabulary).generate(
        SAMPLE_PROMPT, SAMPLE_LENGTH, SAMPLE_TEMPERATURE, seed=0
    )
    (out / "sample.txt").write_text(sample, encoding="utf-8")
    return {
        "val_loss_nats": nats,
        "val_bits_per_char": nats / math.log(2),
        "val_perplexity": math.exp(nats),
        "val_characters": int(y.size),
    }


def evaluate_sine(model: keras.Model, splits: Splits, out: Path, cfg: DictConfig) -> dict:
    x, y = splits.arrays[held_out(splits.spec.task)]
    predicted = model.predict(x, batch_size=EVAL_BATCH, verbose=0).ravel()
    real = y.ravel()
    pd.DataFrame({"step": np.arange(len(real)), "real": real, "predicted": predicted}).to_csv(
        out / "sine_test.csv", index=False
    )
    plots.sine_fit(predicted, real, out / "sine_fit.png", f"{cfg.name}: test curve")
    error = predicted.astype(np.float64) - real
    return {
        "test_rmse": float(np.sqrt(np.mean(error**2))),
        "test_mae": float(np.mean(np.abs(error))),
        "test_examples": len(real),
    }


EVALUATORS = {"imdb": evaluate_imdb, "shakespeare": evaluate_shakespeare, "sine": evaluate_sine}


def cap_held_out(splits: Splits, max_examples: int | None) -> Splits:
    """Keep at most `max_examples` of the scored split, evenly spaced over all of it: IMDB's
    test reviews are grouped by label, so its first N would all be positive."""
    split = held_out(splits.spec.task)
    x, y = splits.arrays[split]
    if max_examples is None or max_examples >= len(y):
        return splits
    keep = np.linspace(0, len(y) - 1, max_examples).round().astype(int)
    return replace(splits, arrays={**splits.arrays, split: (x[keep], y[keep])})


def evaluate(cfg: DictConfig, root: Path) -> dict:
    import mlflow

    from rnnlab import tracking

    use_threads(cfg.trainer.threads)  # the training's count: the same numerics
    paths = experiment_paths(cfg, root)
    run_file = tracking.read_run_file(paths["model_dir"])
    tracking.connect(root)
    splits = cap_held_out(
        load_splits(paths["data"], input_layout(cfg), held_out_only=True),
        OmegaConf.select(cfg, "evaluation.max_examples"),
    )
    model = load_model(paths["model_dir"] / MODEL_FILE)
    out = paths["plots"] / "eval"
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "task": splits.spec.task,
        **EVALUATORS[splits.spec.task](model, splits, out, cfg),
    }
    with mlflow.start_run(run_id=run_file["run_id"]):
        mlflow.set_tag("dvc.evaluate_stage", f"evaluate@{cfg.name}")
        mlflow.log_metrics({k: v for k, v in results.items() if isinstance(v, float)})
        mlflow.log_artifacts(str(out), "evaluation")
        version = tracking.register(splits.spec.task, run_file["model_uri"], run_file["run_id"])
        mlflow.set_tags({"registry.version": version, "eval.data": tracking.eval_data_id(cfg)})
    # The run id makes a new run's metrics file differ from an old one with equal scores,
    # so DVC re-runs compare and promote, which read the MLflow store rather than files.
    results["mlflow_run_id"] = run_file["run_id"]
    write_json(paths["metrics"], results)
    log.info(
        "evaluated %s: %s", cfg.name, {k: v for k, v in results.items() if k != "confusion_matrix"}
    )
    return results
