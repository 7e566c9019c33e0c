"""Sine's evaluation: RMSE and MAE of one-step predictions along the test curve, and its plot."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from rnnlab.data.splits import Splits
from rnnlab.plots import plt, save
from rnnlab.tasks.evaluation import EvaluationResult
from rnnlab.tasks.sine import TASK

EVAL_BATCH = 256


def evaluate(model: keras.Model, splits: Splits, out: Path, cfg: DictConfig) -> EvaluationResult:
    """One-step predictions along the test curve: each row's target is the curve's next
    value, its output the model's prediction of it."""
    x, y = splits.arrays[TASK.held_out]
    predicted = model.predict(x, batch_size=EVAL_BATCH, verbose=0).ravel()
    real = y.ravel()
    fit_plot(predicted, real, out / "sine_fit.png", f"{cfg.name}: test curve")
    error = predicted.astype(np.float64) - real
    metrics = {
        "test_rmse": float(np.sqrt(np.mean(error**2))),
        "test_mae": float(np.mean(np.abs(error))),
        "test_examples": len(real),
    }
    return EvaluationResult(metrics, pd.DataFrame({"target": real, "output": predicted}))


def fit_plot(predicted: np.ndarray, real: np.ndarray, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(real, label="real sin", linewidth=2)
    ax.plot(predicted, "--", label="predicted")
    ax.set_xlabel("test step")
    ax.set_title(title)
    ax.legend()
    save(fig, path)
