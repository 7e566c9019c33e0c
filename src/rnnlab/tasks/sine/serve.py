"""Sine's serving model: each `start` x is continued `steps` values, every value predicted
from the previous window (the model's own outputs fed back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from rnnlab.data.model_io import input_column, user_error
from rnnlab.data.splits import input_layout
from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.io import read_json

INPUT = ("double", "start")
OUTPUTS = [
    ("double", "start"),
    ("long", "step"),
    ("double", "x"),
    ("double", "forecast"),
    ("double", "true"),
]
PARAMS: dict[str, Any] = {"steps": 200}
VOCABULARY = None


def preprocessing(meta: dict, cfg) -> dict:
    return {"steps": meta["steps"], "spacing": meta["spacing"], "input_layout": input_layout(cfg)}


class SineForecaster(mlflow.pyfunc.PythonModel):
    """Start x -> the next `steps` values of sin, each predicted from the previous window."""

    def load_context(self, context) -> None:
        from rnnlab.models import load_model

        self.model = load_model(context.artifacts["model"])
        self.settings = read_json(Path(context.artifacts["preprocessing"]))

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        steps = int({**PARAMS, **(params or {})}["steps"])
        try:
            if steps <= 0:
                raise ConfigError(f"steps must be a positive integer, got {steps}")
            starts = pd.to_numeric(input_column(model_input, INPUT[1]), errors="raise")
        except (RnnlabError, ValueError) as exc:
            raise user_error(ConfigError(f"bad sine forecast input: {exc}")) from exc
        return pd.concat([self.forecast(float(start), steps) for start in starts])

    def forecast(self, start: float, steps: int) -> pd.DataFrame:
        window, gap = self.settings["steps"], self.settings["spacing"]
        layout = self.settings["input_layout"]
        # The model sees `window` true values from `start`, then only its own predictions.
        history = list(np.sin(start + gap * np.arange(window)))
        for _ in range(steps):
            recent = np.asarray(history[-window:], dtype=np.float32)
            shaped = recent.reshape(1, 1, window) if layout == "book" else recent.reshape(1, -1, 1)
            history.append(float(self.model(shaped, training=False).numpy().ravel()[0]))
        x = start + gap * np.arange(window, window + steps)
        return pd.DataFrame(
            {
                "start": start,
                "step": np.arange(1, steps + 1),
                "x": x,
                "forecast": history[window:],
                "true": np.sin(x),
            }
        )


WRAPPER = SineForecaster
