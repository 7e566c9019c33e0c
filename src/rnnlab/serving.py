"""Trained models as MLflow pyfunc models that take raw inputs.

Each task's wrapper carries everything inference needs next to model.keras:

- imdb: the training vocabulary and the padding settings, applied by the same
  `rnnlab.data.text.vectorize` that `prepare` used, so a DataFrame of raw reviews
  (column `text`) comes back as probabilities and labels;
- shakespeare: the character vocabulary; prompts (column `prompt`) are continued by the
  stateful `CharGenerator`, with `length`, `temperature` and `seed` as predict params;
- sine: the window length, spacing and layout; each `start` is continued `steps` values.

The training stage saves the wrapper to models/<experiment>/serving (a DVC output) and logs
the same folder to MLflow as the run's `model`, which the registry versions. The wrappers
are classes of this package, so loading one needs `rnnlab` importable (the project's venv,
as with `mlflow models serve --env-manager local`); the model files themselves are inside.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from rnnlab.errors import ConfigError, DataError, RnnlabError
from rnnlab.io import read_json

SERVING_DIR = "serving"
TASK_METADATA = "rnnlab_task"
PREDICT_BATCH = 256
LABELS = ("negative", "positive")  # IMDB label 0 / 1
# P(positive) at or above which a review is called positive: one rule for the evaluate
# stage's metrics, the served model's labels and the diagnostics.
POSITIVE_THRESHOLD = 0.5


def predicted_labels(prob: np.ndarray) -> np.ndarray:
    """IMDB label (0 negative, 1 positive) of each P(positive)."""
    return (np.asarray(prob) >= POSITIVE_THRESHOLD).astype(int)


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


class ReviewClassifier(mlflow.pyfunc.PythonModel):
    """Raw review text -> probability of a positive review."""

    def load_context(self, context) -> None:
        from rnnlab.data.text import load_vocabulary
        from rnnlab.models import load_model

        self.model = load_model(context.artifacts["model"])
        self.vocabulary = load_vocabulary(Path(context.artifacts["vocabulary"]))
        self.settings = read_json(Path(context.artifacts["preprocessing"]))

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        try:
            texts = review_texts(input_column(model_input, INPUTS["imdb"][1]))
        except RnnlabError as exc:
            raise user_error(exc) from exc
        return self.classify(texts)

    def classify(self, texts: list[str]) -> pd.DataFrame:
        from rnnlab.data.text import OOV_INDEX, vectorize

        s = self.settings
        ids, lengths = vectorize(
            texts, self.vocabulary, s["max_len"], s["padding"], s["truncating"]
        )
        empty = np.flatnonzero(lengths == 0)
        if len(empty):
            raise user_error(
                DataError(
                    f"rows {empty.tolist()[:20]} have no words after removing markup and "
                    "punctuation (empty, or only symbols/emoji); remove them or add text"
                )
            )
        prob = self.model.predict(ids, batch_size=PREDICT_BATCH, verbose=0).ravel()
        return pd.DataFrame(
            {
                "probability": prob.astype(np.float64),
                "label": np.asarray(LABELS)[predicted_labels(prob)],
                "tokens": lengths.astype(np.int64),
                "unknown_tokens": (ids == OOV_INDEX).sum(axis=1).astype(np.int64),
            }
        )


def review_texts(column: pd.Series) -> list[str]:
    missing = np.flatnonzero(column.isna().to_numpy())
    if len(missing):
        raise DataError(f"rows {missing.tolist()[:20]} have no text (null); remove them")
    return [str(text) for text in column]


class CharSampler(mlflow.pyfunc.PythonModel):
    """Prompt -> the prompt continued character by character (stateful generation)."""

    def load_context(self, context) -> None:
        from rnnlab.generation import CharGenerator
        from rnnlab.models import load_model

        vocabulary = read_json(Path(context.artifacts["vocabulary"]))
        self.generator = CharGenerator(load_model(context.artifacts["model"]), vocabulary)

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        p = {**CHAR_PARAMS, **(params or {})}
        try:
            prompts = [str(x) for x in input_column(model_input, INPUTS["shakespeare"][1])]
            texts = [
                self.generator.generate(
                    prompt, int(p["length"]), float(p["temperature"]), int(p["seed"])
                )
                for prompt in prompts
            ]
        except RnnlabError as exc:
            raise user_error(exc) from exc
        return pd.DataFrame({"text": texts})


CHAR_PARAMS = {"length": 500, "temperature": 0.8, "seed": 0}
SINE_PARAMS = {"steps": 200}


class SineForecaster(mlflow.pyfunc.PythonModel):
    """Start x -> the next `steps` values of sin, each predicted from the previous window."""

    def load_context(self, context) -> None:
        from rnnlab.models import load_model

        self.model = load_model(context.artifacts["model"])
        self.settings = read_json(Path(context.artifacts["preprocessing"]))

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        steps = int({**SINE_PARAMS, **(params or {})}["steps"])
        try:
            if steps <= 0:
                raise ConfigError(f"steps must be a positive integer, got {steps}")
            starts = pd.to_numeric(input_column(model_input, INPUTS["sine"][1]), errors="raise")
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


WRAPPERS = {"imdb": ReviewClassifier, "shakespeare": CharSampler, "sine": SineForecaster}


# Each task's columns, (MLflow type, name): what a client sends and what it gets back.
INPUTS = {
    "imdb": ("string", "text"),
    "shakespeare": ("string", "prompt"),
    "sine": ("double", "start"),
}
OUTPUTS = {
    "imdb": [
        ("double", "probability"),
        ("string", "label"),
        ("long", "tokens"),
        ("long", "unknown_tokens"),
    ],
    "shakespeare": [("string", "text")],
    "sine": [
        ("double", "start"),
        ("long", "step"),
        ("double", "x"),
        ("double", "forecast"),
        ("double", "true"),
    ],
}
PREDICT_PARAMS = {"imdb": {}, "shakespeare": CHAR_PARAMS, "sine": SINE_PARAMS}
PARAM_TYPES = {int: "long", float: "double"}


def signature(task: str) -> ModelSignature:
    params = [
        ParamSpec(name, PARAM_TYPES[type(default)], default)
        for name, default in PREDICT_PARAMS[task].items()
    ]
    return ModelSignature(
        inputs=Schema([ColSpec(*INPUTS[task])]),
        outputs=Schema([ColSpec(*column) for column in OUTPUTS[task]]),
        params=ParamSchema(params) if params else None,
    )


def preprocessing(task: str, meta: dict, input_layout: str) -> dict:
    """The inference-time settings of a prepared dataset (from its meta.json)."""
    if task == "imdb":
        return {k: meta[k] for k in ("vocab_size", "max_len", "padding", "truncating")}
    if task == "sine":
        return {"steps": meta["steps"], "spacing": meta["spacing"], "input_layout": input_layout}
    return {}  # shakespeare: the vocabulary is all a prompt needs


def requirements() -> list[str]:
    import keras
    import tensorflow as tf

    return [
        f"tensorflow-cpu=={tf.__version__}",
        f"keras=={keras.__version__}",
        f"mlflow=={mlflow.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]


@contextmanager
def serving_model_args(task: str, model_file: Path, data_dir: Path, input_layout: str):
    """Arguments for mlflow.pyfunc.save_model / log_model of the task's wrapper."""
    from rnnlab.io import write_json

    meta = read_json(data_dir / "meta.json")
    with tempfile.TemporaryDirectory(prefix="rnnlab-serving-") as tmp:
        settings = Path(tmp) / "preprocessing.json"
        write_json(settings, preprocessing(task, meta, input_layout))
        artifacts = {"model": str(model_file), "preprocessing": str(settings)}
        vocab = {"imdb": "vocab.txt", "shakespeare": "vocab.json"}.get(task)
        if vocab:
            artifacts["vocabulary"] = str(data_dir / vocab)
        yield {
            "python_model": WRAPPERS[task](),
            "artifacts": artifacts,
            "signature": signature(task),
            "pip_requirements": requirements(),
            "metadata": {TASK_METADATA: task},
        }


def save_and_log(target: Path, task: str, model_file: Path, data_dir: Path, layout: str) -> str:
    """Save the wrapper to `target` and log it as the active run's `model`; returns its URI."""
    with serving_model_args(task, model_file, data_dir, layout) as args:
        mlflow.pyfunc.save_model(path=str(target), **args)
        return mlflow.pyfunc.log_model(name="model", **args).model_uri


def task_of(model) -> str:
    return (model.metadata.metadata or {}).get(TASK_METADATA, "unknown")


def load(uri: str, task: str):
    """Load a pyfunc model by URI or path and check it serves `task`; clear errors if not."""
    local = Path(uri)
    if (local / SERVING_DIR / "MLmodel").is_file():  # models/<experiment> from DVC
        uri = str(local / SERVING_DIR)
    try:
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise ConfigError(
            f"cannot load model {uri!r}: {first_line(exc)}; pass --model with a registered "
            "model URI (models:/<name>@<alias> or models:/<name>/<version>), a runs:/ URI, "
            "or a path to models/<experiment>"
        ) from exc
    found = task_of(model)
    if found != task:
        raise ConfigError(
            f"model {uri!r} is a model for the {found} task, but this command needs one for "
            f"the {task} task; "
            f"pass --model models:/rnnlab-{task}@champion or a models/<{task} experiment> path"
        )
    return model


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
