"""Prepared data in memory: the arrays of each split and what a model builder needs to know
of them. Light (numpy only): the CLI and the task registry import it without TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab.io import array_file

WORD_VECTORS_ARRAY = "word_vectors"  # (vocab_size, dim) vectors a prepare stage may write


@dataclass(frozen=True)
class DataSpec:
    """What a model builder needs to know of the prepared input."""

    task: str
    vocab_size: int = 0
    seq_len: int | None = None
    features: int = 1
    word_vectors: Path | None = None  # (vocab_size, dim) .npy from `prepare`, if it made one
    problem: str = ""  # the task's problem (models.registry checks the kind fits it)


@dataclass
class Splits:
    spec: DataSpec
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    vocabulary: list[str] | None = None

    def has(self, split: str) -> bool:
        return split in self.arrays and len(self.arrays[split][0]) > 0


def word_vectors_file(folder: Path) -> Path | None:
    """The prepared folder's word vectors (datasets with dataset.word_vectors > 0)."""
    path = array_file(folder, WORD_VECTORS_ARRAY)
    return path if path.is_file() else None


def input_layout(cfg) -> str:
    """How a model takes its input windows ("steps", or seed 002's "book" layout)."""
    return cfg.model.get("input_layout", "steps")


def bucket_padding(cfg) -> str | None:
    """The padding side to trim when trainer.bucket_by_length is on (the schema checks that
    the model masks its padding), else None."""
    return cfg.dataset.padding if cfg.trainer.get("bucket_by_length") else None
