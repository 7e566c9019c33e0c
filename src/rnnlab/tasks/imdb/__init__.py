"""IMDB sentiment: raw reviews of the Large Movie Review Dataset -> P(positive).

Scored on the official 25,000 test reviews; the validation split is carved out of the
official training reviews (prepare.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import MISSING

from rnnlab.tasks.base import Task

# P(positive) at or above which a review is called positive: one rule for the evaluate
# stage's metrics, the served model's labels and the diagnostics.
POSITIVE_THRESHOLD = 0.5
LABELS = ("negative", "positive")  # label 0 / 1


def predicted_labels(prob: np.ndarray) -> np.ndarray:
    """Label (0 negative, 1 positive) of each P(positive)."""
    return (np.asarray(prob) >= POSITIVE_THRESHOLD).astype(int)


@dataclass
class ImdbDataset:
    task: str = "imdb"
    source: str = "imdb"
    vocab_size: int = MISSING
    max_len: int = MISSING
    padding: str = "post"
    truncating: str = "post"
    val_fraction: float = 0.2
    split_seed: int = 42
    val_block_size: int = 0
    # > 0: `prepare` also learns word vectors of this size from the training split's text
    # (rnnlab.data.word_vectors), which model.pretrained_embedding starts from.
    word_vectors: int = 0
    word_vector_epochs: int = 20  # skip-gram passes over the training text
    name: str = MISSING


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
    dataset_schema=ImdbDataset,
    mlflow_experiment="imdb-sentiment",
    registered_model="rnnlab-imdb",
    main_metric="test_accuracy",
    validation_metric="val_accuracy",
    higher_is_better=True,
    source="imdb",
)
