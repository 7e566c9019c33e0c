"""What `rnnlab predict`, `generate` and `forecast` do, on top of the served pyfunc models.

A model is named by an MLflow URI (default: the task's `champion` alias in the registry) or
a local path (models/<experiment> from DVC, or any saved pyfunc model folder).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rnnlab.errors import ConfigError, DataError

if TYPE_CHECKING:  # the CLI imports this module for its constants; keep that import cheap
    import pandas as pd

TEXT_FORMATS = ("txt", "csv", "jsonl")


def default_model(task: str) -> str:
    from rnnlab.tracking import REGISTERED_MODELS

    return f"models:/{REGISTERED_MODELS[task]}@champion"


def open_model(uri: str | None, task: str, root: Path):
    from rnnlab import serving, tracking

    uri = uri or default_model(task)
    if not Path(uri).exists():  # registry and run URIs need the tracking store
        tracking.connect(root)
    return serving.load(uri, task)


def input_format(path: str) -> str:
    fmt = Path(path).suffix.lstrip(".").lower() or "txt"
    fmt = {"json": "jsonl", "ndjson": "jsonl", "text": "txt"}.get(fmt, fmt)
    if fmt not in TEXT_FORMATS:
        raise DataError(
            f"cannot tell the format of {path!r}; pass --format-in with one of {TEXT_FORMATS}"
        )
    return fmt


def read_reviews(path: str, fmt: str | None, column: str) -> pd.DataFrame:
    """Reviews from a txt (one per line), CSV or JSONL file, or '-' for stdin."""
    import pandas as pd

    if path != "-" and not Path(path).is_file():
        raise DataError(f"{path} does not exist; give a txt, csv or jsonl file, or - for stdin")
    fmt = fmt or ("txt" if path == "-" else input_format(path))
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        if fmt == "txt":
            frame = pd.DataFrame({column: [line for line in text.splitlines() if line.strip()]})
        elif fmt == "csv":
            frame = pd.read_csv(io.StringIO(text), dtype={column: "string"}, keep_default_na=False)
        else:
            frame = pd.read_json(io.StringIO(text), lines=True, dtype={column: "string"})
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path} as {fmt}: {exc}") from exc
    if column not in frame.columns:
        raise DataError(
            f"{path} has columns {list(frame.columns)} but no {column!r}; "
            f"pass --text-column with the column holding the reviews"
        )
    return frame[[column]].rename(columns={column: "text"})


def predict(model, frame: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
    """model.predict, with the wrappers' input errors (MlflowException) as rnnlab errors."""
    from mlflow.exceptions import MlflowException

    try:
        return model.predict(frame, params=params)
    except MlflowException as exc:
        raise DataError(exc.message) from exc


def predict_reviews(model, reviews: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    if reviews.empty:
        raise DataError("no reviews to classify; give a review, a file with reviews, or stdin")
    scored = predict(model, reviews[["text"]])
    return pd.concat([scored.reset_index(drop=True), reviews.reset_index(drop=True)], axis=1)


def render(table: pd.DataFrame, fmt: str, text_width: int = 60) -> str:
    if fmt == "jsonl":
        # pandas keeps 10 decimals by default, which flattens confident probabilities
        # (6.190167e-06 -> 6.1902e-06); 15 is its maximum.
        return table.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
    shown = table.copy()
    if "text" in shown:
        shown["text"] = shown["text"].map(lambda t: t if len(t) <= text_width else t[:57] + "...")
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4f}") + "\n"


def generate(model, prompt: str, length: int, temperature: float, seed: int) -> str:
    import pandas as pd

    if length < 0:
        raise ConfigError(f"--length must be >= 0, got {length}")
    if temperature <= 0:
        raise ConfigError(f"--temperature must be > 0, got {temperature}")
    frame = predict(
        model,
        pd.DataFrame({"prompt": [prompt]}),
        params={"length": length, "temperature": temperature, "seed": seed},
    )
    return str(frame["text"].iloc[0])


def forecast(model, start: float, steps: int, plot: Path | None) -> pd.DataFrame:
    if steps <= 0:
        raise ConfigError(f"--steps must be a positive integer, got {steps}")
    import pandas as pd

    table = predict(model, pd.DataFrame({"start": [float(start)]}), params={"steps": steps})
    if plot is not None:
        from rnnlab.plots import sine_forecast

        plot.parent.mkdir(parents=True, exist_ok=True)
        sine_forecast(table, plot, f"sine forecast from x={start:g}, {steps} steps")
    return table
