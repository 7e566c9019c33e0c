"""Load prepared arrays for a task and turn them into tf.data pipelines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from rnnlab.data import word_vectors
from rnnlab.errors import DataError
from rnnlab.io import array_file, load_array, read_json
from rnnlab.models.builders import DataSpec


@dataclass
class Splits:
    spec: DataSpec
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    vocabulary: list[str] | None = None

    def has(self, split: str) -> bool:
        return split in self.arrays and len(self.arrays[split][0]) > 0


def task_splits(task: str) -> tuple[str, ...]:
    """The splits a task's prepared folder holds (Shakespeare has no test split)."""
    return ("train", "val") if task == "shakespeare" else ("train", "val", "test")


def held_out(task: str) -> str:
    """The split evaluation scores: test, or validation where a task has no test split."""
    return task_splits(task)[-1]


def load_splits(folder: Path, layout: str = "steps", held_out_only: bool = False) -> Splits:
    """Arrays of a prepared folder: every split, or only the one evaluation scores."""
    if not (folder / "meta.json").is_file():
        raise DataError(f"{folder} is not a prepared dataset (no meta.json); run `dvc repro` first")
    meta = read_json(folder / "meta.json")
    task = meta["task"]
    splits = (held_out(task),) if held_out_only else task_splits(task)
    suffix = f"_{layout}" if task == "sine" else ""
    arrays = {
        s: (load_array(folder, f"x_{s}{suffix}"), load_array(folder, f"y_{s}")) for s in splits
    }
    length = meta.get("max_len") or meta.get("seq_len") or meta.get("steps")
    spec = DataSpec(
        task=task,
        vocab_size=int(meta.get("vocab_size", 0)),
        seq_len=int(length),
        word_vectors=word_vectors_file(folder),
    )
    vocabulary = None
    if task == "shakespeare":
        vocabulary = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    return Splits(spec, arrays, vocabulary)


def word_vectors_file(folder: Path) -> Path | None:
    """The prepared folder's word vectors (datasets with dataset.word_vectors > 0)."""
    path = array_file(folder, word_vectors.ARRAY)
    return path if path.is_file() else None


# Reviews sorted together by length before they are cut into batches (see to_dataset).
BUCKET_BATCHES = 100


def to_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool,
    seed: int,
    bucket_padding: str | None = None,
) -> tf.data.Dataset:
    """Batches gathered from in-memory arrays by (shuffled) index, as Keras' own adapter does.

    Only the indices go through the shuffle buffer, and each batch is one `tf.gather` in the
    graph, so there is no per-example work; shuffling is seeded and redone every epoch.

    `bucket_padding` ("post" or "pre", the side the token arrays are padded on) groups reviews
    of similar length: each run of BUCKET_BATCHES batches of shuffled indices is sorted by
    length and cut into batches, the batches are shuffled again, and each batch is trimmed to
    its longest review. A recurrent layer then steps through about the mean length (217 of
    500 tokens on IMDB) instead of the padded length; with masked padding every review's
    output is exactly what it would be in the padded batch.
    """
    order = tf.data.Dataset.range(len(x))
    if shuffle:
        order = order.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if not bucket_padding:
        batches = gather_batches(order.batch(batch_size), (x, y))
        return batches.prefetch(tf.data.AUTOTUNE)
    lengths = token_lengths(x)
    index_batches = length_sorted_batches(order, lengths, batch_size, shuffle, seed)
    batches = gather_batches(index_batches, (x, y, lengths)).map(
        lambda xb, yb, lb: (trim_padding(xb, lb, bucket_padding), yb)
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def batch_count(n: int, batch_size: int) -> int:
    """Batches in one pass over n rows, the last one partial."""
    return -(-n // batch_size)


def gather_batches(index_batches: tf.data.Dataset, columns: tuple[np.ndarray, ...]):
    """Each batch of indices as one `tf.gather` per column, in parallel in the graph."""
    arrays = tf.data.Dataset.from_tensors(columns).repeat()
    return tf.data.Dataset.zip(index_batches, arrays).map(
        lambda index, arrays: tuple(tf.gather(a, index) for a in arrays),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def token_lengths(x: np.ndarray) -> np.ndarray:
    """Tokens per padded row: 0 is reserved for padding, so the non-zero ids are the text."""
    return np.count_nonzero(x, axis=1).astype(np.int32)


def length_sorted_batches(
    order: tf.data.Dataset, lengths: np.ndarray, batch_size: int, shuffle: bool, seed: int
) -> tf.data.Dataset:
    lengths_t = tf.constant(lengths)

    def by_length(index: tf.Tensor) -> tf.Tensor:
        return tf.gather(index, tf.argsort(tf.gather(lengths_t, index), stable=True))

    sorted_runs = order.batch(batch_size * BUCKET_BATCHES).map(by_length)
    batches = sorted_runs.flat_map(
        lambda index: tf.data.Dataset.from_tensor_slices(index).batch(batch_size)
    )
    # Runs are whole multiples of batch_size, so the count is the unbucketed one; stated, it
    # spares Keras a first pass that runs out of data to find the end of an epoch.
    batches = batches.apply(
        tf.data.experimental.assert_cardinality(batch_count(len(lengths), batch_size))
    )
    # Within a run the batches come shortest first; shuffled, the order of lengths is random.
    return batches.shuffle(BUCKET_BATCHES, seed=seed + 1) if shuffle else batches


def trim_padding(x: tf.Tensor, lengths: tf.Tensor, padding: str) -> tf.Tensor:
    """The batch without the columns that are padding in every row (`lengths`: its rows')."""
    longest = tf.maximum(tf.reduce_max(lengths), 1)
    return x[:, :longest] if padding == "post" else x[:, tf.shape(x)[1] - longest :]
