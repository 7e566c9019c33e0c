"""Load prepared arrays for a task and turn them into tf.data pipelines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from rnnlab.errors import DataError
from rnnlab.io import load_array, read_json
from rnnlab.models.builders import DataSpec


@dataclass
class Splits:
    spec: DataSpec
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    vocabulary: list[str] | None = None

    def has(self, split: str) -> bool:
        return split in self.arrays and len(self.arrays[split][0]) > 0


def load_splits(folder: Path, layout: str = "steps") -> Splits:
    """Arrays of every split in a prepared folder (train/val and test where the task has one)."""
    if not (folder / "meta.json").is_file():
        raise DataError(f"{folder} is not a prepared dataset (no meta.json); run `dvc repro` first")
    meta = read_json(folder / "meta.json")
    task = meta["task"]
    splits = ("train", "val") if task == "shakespeare" else ("train", "val", "test")
    suffix = f"_{layout}" if task == "sine" else ""
    arrays = {
        s: (load_array(folder, f"x_{s}{suffix}"), load_array(folder, f"y_{s}")) for s in splits
    }
    length = meta.get("max_len") or meta.get("seq_len") or meta.get("steps")
    spec = DataSpec(task=task, vocab_size=int(meta.get("vocab_size", 0)), seq_len=int(length))
    vocabulary = None
    if task == "shakespeare":
        vocabulary = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    return Splits(spec, arrays, vocabulary)


def to_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: int
) -> tf.data.Dataset:
    """Batches gathered from in-memory arrays by (shuffled) index, as Keras' own adapter does.

    Only the indices go through the shuffle buffer, and each batch is one `tf.gather` in the
    graph, so there is no per-example work; shuffling is seeded and redone every epoch.
    """
    order = tf.data.Dataset.range(len(x))
    if shuffle:
        order = order.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    arrays = tf.data.Dataset.from_tensors((x, y)).repeat()
    batches = tf.data.Dataset.zip(order.batch(batch_size), arrays)
    return batches.map(gather_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def gather_batch(index: tf.Tensor, arrays: tuple[tf.Tensor, tf.Tensor]):
    x, y = arrays
    return tf.gather(x, index), tf.gather(y, index)
