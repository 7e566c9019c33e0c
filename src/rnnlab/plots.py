"""Figures written by train/evaluate (PNG, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run in CI and over ssh
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rnnlab.io import atomic_file


def save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_file(path) as tmp:  # an interrupted save never leaves a truncated image
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)


def learning_curves(history: pd.DataFrame, path: Path, title: str) -> None:
    metrics = [
        c
        for c in history.columns
        if c != "epoch" and not c.startswith("val_") and c != "learning_rate"
    ]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        ax.plot(history["epoch"] + 1, history[metric], "o-", label=f"train {metric}")
        if f"val_{metric}" in history:
            ax.plot(
                history["epoch"] + 1, history[f"val_{metric}"], "s-", label=f"validation {metric}"
            )
        ax.set_xlabel("epoch")
        ax.set_title(f"{title}: {metric}")
        ax.grid(True, alpha=0.3)
        ax.legend()
    save(fig, path)


def confusion_matrix(matrix: np.ndarray, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center")
    ax.set_xticks([0, 1], ["negative", "positive"])
    ax.set_yticks([0, 1], ["negative", "positive"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    save(fig, path)


def roc_curve(fpr: np.ndarray, tpr: np.ndarray, auc: float, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(fpr, tpr, label=f"AUC {auc:.4f}")
    ax.plot([0, 1], [0, 1], "k--", alpha=0.4)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend()
    save(fig, path)


def sine_fit(predicted: np.ndarray, real: np.ndarray, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(real, label="real sin", linewidth=2)
    ax.plot(predicted, "--", label="predicted")
    ax.set_xlabel("test step")
    ax.set_title(title)
    ax.legend()
    save(fig, path)


def sine_forecast(table: pd.DataFrame, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(table["x"], table["true"], label="sin(x)", linewidth=2)
    ax.plot(table["x"], table["forecast"], "--", label="forecast (own outputs fed back)")
    ax.set_xlabel("x")
    ax.set_title(title)
    ax.legend()
    save(fig, path)
