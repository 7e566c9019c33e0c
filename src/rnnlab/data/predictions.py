"""The predictions file: a model's output per held-out example, beside its target.

The evaluate stage writes one per experiment (predictions/<experiment>.csv, also logged to
its MLflow run); the ensemble stage reads its members' files instead of running them again.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

INDEX = "example"
PREDICTIONS_ARTIFACT = "predictions.csv"  # its name in a run's `evaluation` artifacts


def write_predictions(predictions: pd.DataFrame, path: Path) -> None:
    """One row per scored example, numbered in the held-out split's order. Floats are
    written to the last digit, so a reader gets exactly the outputs that were scored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(path, index_label=INDEX, float_format="%.17g")


def read_predictions(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, index_col=INDEX)
