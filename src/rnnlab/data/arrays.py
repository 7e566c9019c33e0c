"""tf.data pipelines over prepared arrays in memory (task-agnostic)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Reviews sorted together by length before they are cut into batches (see to_dataset).
BUCKET_BATCHES = 100
PREDICT_BATCH = 256


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


def example_outputs(model, x: np.ndarray, bucket_padding: str | None = None) -> np.ndarray:
    """The model's one output per example (e.g. P(positive)), in x's order, as float64. A
    model trained on length-bucketed batches is also run on them (each trimmed to its
    longest row): the same outputs as on the padded rows, in less time."""
    if not bucket_padding:
        return model.predict(x, batch_size=PREDICT_BATCH, verbose=0).ravel().astype(np.float64)
    out = np.empty(len(x), dtype=np.float64)
    index = np.arange(len(x))
    for batch, rows in to_dataset(x, index, PREDICT_BATCH, False, 0, bucket_padding):
        out[rows.numpy()] = np.asarray(model.predict_on_batch(batch)).ravel()
    return out
