"""Inputs and outputs of the served (pyfunc) models, shared by every task's wrapper."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from rnnlab.errors import DataError, RnnlabError


def input_column(model_input: Any, column: str) -> pd.Series:
    """The named column of a DataFrame (or the only column, or a plain list) as a Series."""
    if isinstance(model_input, pd.DataFrame):
        if column in model_input.columns:
            return model_input[column]
        if len(model_input.columns) == 1:
            return model_input.iloc[:, 0]
        raise DataError(
            f"the input has columns {list(model_input.columns)} but no {column!r} column; "
            f"name the column {column!r}"
        )
    return pd.Series(list(np.atleast_1d(model_input)))


def user_error(exc: RnnlabError) -> MlflowException:
    # MLflow's scoring server turns INVALID_PARAMETER_VALUE into HTTP 400 with this message.
    return MlflowException.invalid_parameter_value(str(exc))


def call_model(model, frame: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
    """model.predict, with the wrappers' input errors (MlflowException) as rnnlab errors."""
    try:
        return model.predict(frame, params=params)
    except MlflowException as exc:
        raise DataError(exc.message) from exc


def render(table: pd.DataFrame, fmt: str, text_width: int = 60) -> str:
    """A result table as aligned text ("table") or JSON lines ("jsonl")."""
    if fmt == "jsonl":
        # pandas keeps 10 decimals by default, which flattens confident probabilities
        # (6.190167e-06 -> 6.1902e-06); 15 is its maximum.
        return table.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
    shown = table.copy()
    if "text" in shown:
        shown["text"] = shown["text"].map(lambda t: t if len(t) <= text_width else t[:57] + "...")
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4f}") + "\n"
