"""IMDB's evaluation: accuracy, log loss, ROC AUC, F1 and plots on the official test reviews."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from sklearn import metrics as skm

from rnnlab.data.arrays import example_outputs
from rnnlab.data.splits import Splits, bucket_padding
from rnnlab.plots import plt, save
from rnnlab.tasks.evaluation import EvaluationResult
from rnnlab.tasks.imdb import LABELS, TASK, predicted_labels


def evaluate(model, splits: Splits, out: Path, cfg: DictConfig) -> EvaluationResult:
    x, y = splits.arrays[TASK.held_out]
    prob = example_outputs(model, x, bucket_padding(cfg))
    return EvaluationResult(scores(y, prob, out, cfg.name), predictions(y, prob))


def predictions(y: np.ndarray, prob: np.ndarray) -> pd.DataFrame:
    """One row per test review, in the prepared order: its label (1 positive) and
    P(positive)."""
    return pd.DataFrame({"target": y.astype(int), "output": prob})


def scores(y: np.ndarray, prob: np.ndarray, out: Path, name: str) -> dict:
    """The metrics and plots of P(positive) `prob` against the labels `y` (the ensemble
    stage scores its combined probabilities with this too)."""
    pred = predicted_labels(prob)
    matrix = skm.confusion_matrix(y, pred, labels=[0, 1])
    auc = float(skm.roc_auc_score(y, prob))
    fpr, tpr, _ = skm.roc_curve(y, prob)
    confusion_matrix_plot(matrix, out / "confusion_matrix.png", f"{name} (test)")
    roc_plot(fpr, tpr, auc, out / "roc.png", f"{name} ROC (test)")
    return {
        "test_accuracy": float(skm.accuracy_score(y, pred)),
        "test_loss": float(skm.log_loss(y, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "test_roc_auc": auc,
        "test_f1": float(skm.f1_score(y, pred)),
        "confusion_matrix": matrix.tolist(),
        "test_examples": len(y),
    }


def confusion_matrix_plot(matrix: np.ndarray, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center")
    ax.set_xticks([0, 1], list(LABELS))
    ax.set_yticks([0, 1], list(LABELS))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    save(fig, path)


def roc_plot(fpr: np.ndarray, tpr: np.ndarray, auc: float, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(fpr, tpr, label=f"AUC {auc:.4f}")
    ax.plot([0, 1], [0, 1], "k--", alpha=0.4)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend()
    save(fig, path)
