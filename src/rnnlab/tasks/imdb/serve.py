"""IMDB's serving model: a DataFrame of raw reviews (column `text`) -> probability and label.

It carries the training vocabulary and the padding settings and applies the same
`rnnlab.data.text.vectorize` that `prepare` used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from rnnlab.data.model_io import input_column, user_error
from rnnlab.data.splits import bucket_padding
from rnnlab.errors import DataError, RnnlabError
from rnnlab.io import read_json
from rnnlab.tasks.imdb import LABELS, predicted_labels

INPUT = ("string", "text")
OUTPUTS = [
    ("double", "probability"),
    ("string", "label"),
    ("long", "tokens"),
    ("long", "unknown_tokens"),
]
PARAMS: dict[str, Any] = {}
VOCABULARY = "vocab.txt"  # in the prepared folder


def preprocessing(meta: dict, cfg) -> dict:
    """The inference-time settings of the prepared dataset (from its meta.json), and the
    padding side a model trained on length-bucketed batches is run trimmed of (None: run
    on rows padded to read_len), as the evaluate stage runs it."""
    keys = ("vocab_size", "max_len", "read_len", "padding", "truncating", "punctuation")
    return {**{k: meta[k] for k in keys}, "bucket_padding": bucket_padding(cfg)}


def read_settings(path: Path) -> dict:
    """A package's preprocessing.json. Packages registered before meta.json recorded
    `punctuation` or `read_len` have no such keys: their variants kept no punctuation
    marks and read a review as far as they trained on it. Older packages have no
    `bucket_padding` either: they run on padded rows, which is always right."""
    settings = read_json(path)
    settings.setdefault("punctuation", False)
    settings.setdefault("read_len", settings["max_len"])
    settings.setdefault("bucket_padding", None)
    return settings


class ReviewClassifier(mlflow.pyfunc.PythonModel):
    """Raw review text -> probability of a positive review."""

    def load_context(self, context) -> None:
        from rnnlab.data.text import load_vocabulary
        from rnnlab.models import load_model

        self.model = load_model(context.artifacts["model"])
        self.vocabulary = load_vocabulary(Path(context.artifacts["vocabulary"]))
        self.settings = read_settings(Path(context.artifacts["preprocessing"]))

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        try:
            texts = review_texts(input_column(model_input, INPUT[1]))
        except RnnlabError as exc:
            raise user_error(exc) from exc
        return self.classify(texts)

    def classify(self, texts: list[str]) -> pd.DataFrame:
        from rnnlab.data.arrays import example_outputs
        from rnnlab.data.text import OOV_INDEX, vectorize

        s = self.settings
        ids, lengths = vectorize(
            texts,
            self.vocabulary,
            s["read_len"],  # as the evaluate stage reads the test reviews
            s["padding"],
            s["truncating"],
            s["punctuation"],
        )
        empty = np.flatnonzero(lengths == 0)
        if len(empty):
            raise user_error(
                DataError(
                    f"rows {empty.tolist()[:20]} have no words after removing markup and "
                    "punctuation (empty, or only symbols/emoji); remove them or add text"
                )
            )
        prob = example_outputs(self.model, ids, s["bucket_padding"])
        return pd.DataFrame(
            {
                "probability": prob,  # float64, as example_outputs gives it
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


class ReviewEnsemble(mlflow.pyfunc.PythonModel):
    """Raw review text -> the stacked probability of its members (each a ReviewClassifier
    with its own vocabulary and padding). Token counts are the first member's."""

    def load_context(self, context) -> None:
        from rnnlab.models.stacking import Stacking

        settings = read_json(Path(context.artifacts[ENSEMBLE_SETTINGS]))
        self.stacking = Stacking.from_dict(settings["stacking"])
        self.members = [
            mlflow.pyfunc.load_model(context.artifacts[member]) for member in settings["members"]
        ]

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        outputs = [member.predict(model_input) for member in self.members]
        probabilities = np.column_stack([out["probability"].to_numpy() for out in outputs])
        prob = self.stacking.combine(probabilities)
        return outputs[0].assign(probability=prob, label=np.asarray(LABELS)[predicted_labels(prob)])


WRAPPER = ReviewClassifier
ENSEMBLE_WRAPPER = ReviewEnsemble
ENSEMBLE_SETTINGS = "ensemble"  # the artifact naming the members and their stacking
