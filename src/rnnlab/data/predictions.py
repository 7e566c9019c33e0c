"""The predictions file: a model's output per held-out example, beside its target.

The evaluate stage writes one per experiment (predictions/<experiment>.csv, also logged to
its MLflow run); the ensemble stage reads its members' files instead of running them again.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

INDEX = "example"
PREDICTIONS_ARTIFACT = "predictions.csv"  # its name in a run's `evaluation` artifacts


def write_predictions(predictions: pd.DataFrame, path: Path) -> str:
    """One row per scored example, numbered in the held-out split's order. Floats are
    written to the last digit, so a reader gets exactly the outputs that were scored.
    Returns the text written, for a caller that also logs it."""
    text = predictions.to_csv(index_label=INDEX, float_format="%.17g")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text


def read_predictions(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, index_col=INDEX)
