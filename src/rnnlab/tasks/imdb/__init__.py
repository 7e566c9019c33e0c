"""IMDB sentiment: raw reviews of the Large Movie Review Dataset -> P(positive).

Scored on the official 25,000 test reviews; the validation split is carved out of the
official training reviews (prepare.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab.tasks.base import Task

# P(positive) at or above which a review is called positive: one rule for the evaluate
# stage's metrics, the served model's labels and the diagnostics.
POSITIVE_THRESHOLD = 0.5
LABELS = ("negative", "positive")  # label 0 / 1


def predicted_labels(prob: np.ndarray) -> np.ndarray:
    """Label (0 negative, 1 positive) of each P(positive)."""
    return (np.asarray(prob) >= POSITIVE_THRESHOLD).astype(int)


@dataclass(frozen=True)
class ImdbTask(Task):
    def loss_and_metrics(self) -> tuple[Any, list]:
        import keras

        return keras.losses.BinaryCrossentropy(), ["accuracy"]

    def held_out_id(self, dataset: Any) -> str:
        # The same for every vocabulary/length variant: the tokenizer is part of the model.
        return "aclImdb/test"


TASK = ImdbTask(
    name="imdb",
    title="IMDB sentiment (test accuracy, higher is better)",
    problem="binary_text",
    mlflow_experiment="imdb-sentiment",
    registered_model="rnnlab-imdb",
    main_metric="test_accuracy",
    validation_metric="val_accuracy",
    higher_is_better=True,
    source="imdb",
)
