"""Builder parts several model kinds share: the recurrent layer a `model.cell` names, the
token input and its embedding (optionally started from word vectors), the classifier head.

`data` (rnnlab.data.splits.DataSpec) describes the prepared input: vocab_size, sequence
length, word vectors.
"""

from __future__ import annotations

import keras
import numpy as np

from rnnlab.data.splits import DataSpec
from rnnlab.errors import ConfigError, DataError

EMBEDDING = "embedding"  # the token embedding's layer name (training.adversarial shifts it)

RECURRENT = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}


def recurrent_layer(cell: str) -> type[keras.layers.Layer]:
    if cell not in RECURRENT:
        raise ConfigError(f"model.cell={cell!r} is unknown; allowed: {sorted(RECURRENT)}")
    return RECURRENT[cell]


def classifier_head(x, dense_units: int, dropout: float = 0.0):
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return keras.layers.Dense(1, activation="sigmoid", name="probability")(x)


def embed(ids, rows: int, m, data: DataSpec, mask: bool):
    """The token embedding; with model.pretrained_embedding its first rows start from the
    dataset's word vectors (the rest, e.g. hashed n-grams, keep the random start)."""
    layer = keras.layers.Embedding(rows, m.embedding_dim, mask_zero=mask, name=EMBEDDING)
    embedded = layer(ids)
    if m.get("pretrained_embedding"):
        start = layer.embeddings.numpy()
        vectors = pretrained_vectors(data, m.embedding_dim)
        start[: len(vectors)] = vectors
        layer.embeddings.assign(start)
    return embedded


def pretrained_vectors(data: DataSpec, dim: int) -> np.ndarray:
    # The config was checked (schema.check_pretrained_embedding); this guards the folder.
    vectors = None if data.word_vectors is None else np.load(data.word_vectors)
    if vectors is None or vectors.shape != (data.vocab_size, dim):
        raise DataError(
            f"the prepared dataset has no {data.vocab_size} x {dim} word vectors "
            f"({data.word_vectors or 'no word_vectors.npy'}); re-run its prepare stage "
            "(`dvc repro`) with dataset.word_vectors set"
        )
    return vectors


def token_inputs(data: DataSpec, m, mask: bool = False):
    # Any length: batches trimmed to their longest review (trainer.bucket_by_length) fit too.
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    return tokens, embed(tokens, data.vocab_size, m, data, mask)
