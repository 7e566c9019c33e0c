"""IMDB sentiment: raw reviews of the Large Movie Review Dataset -> P(positive).

Scored on the official 25,000 test reviews; the validation split is carved out of the
official training reviews (prepare.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab.errors import ConfigError
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

    def check_dataset(self, dataset: Any) -> None:
        super().check_dataset(dataset)
        if dataset.read_len < dataset.max_len:
            raise ConfigError(
                f"dataset.read_len={dataset.read_len} is below dataset.max_len="
                f"{dataset.max_len}: held-out reviews are never cut shorter than training "
                f"ones; set dataset.read_len to at least {dataset.max_len}"
            )

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
