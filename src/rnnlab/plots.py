"""Figures as PNG files, headless (matplotlib's Agg backend); tasks draw their own."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run in CI and over ssh
import matplotlib.pyplot as plt
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
