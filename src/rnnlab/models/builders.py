"""Short builders, one per architecture family (models.registry says which is which).

`data` (rnnlab.data.splits.DataSpec) describes the prepared input: vocab_size, sequence
length, word vectors.
"""

from __future__ import annotations

import keras
import numpy as np

from rnnlab.data.splits import DataSpec
from rnnlab.errors import ConfigError, DataError
from rnnlab.models.layers import (
    DistinctIds,
    EquationRNNCell,
    HashedNGrams,
    LoopedCellsClassifier,
    MaskedGlobalMax,
    NaiveBayesLogit,
    WordDropout,
)

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
    layer = keras.layers.Embedding(rows, m.embedding_dim, mask_zero=mask, name="embedding")
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


def build_pool(m, data: DataSpec) -> keras.Model:
    tokens = keras.Input(shape=(data.seq_len,), dtype="int32", name="tokens")
    ids, rows = tokens, data.vocab_size
    if m.ngrams > 1:
        ids = HashedNGrams(data.vocab_size, m.ngrams, m.ngram_buckets, name="ngrams")(tokens)
        rows += m.ngram_buckets
    if m.distinct_tokens:
        ids = DistinctIds(name="distinct")(ids)
    if m.word_dropout:
        ids = WordDropout(m.word_dropout, name="word_dropout")(ids)
    # With n-grams, distinct tokens or word dropout the padding must be masked, or every
    # padded (repeated, dropped) slot would dilute the average.
    mask = m.mask_padding or m.ngrams > 1 or m.distinct_tokens or bool(m.word_dropout)
    x = embed(ids, rows, m, data, mask)
    x = keras.layers.GlobalAveragePooling1D(name="average")(x)
    return keras.Model(tokens, classifier_head(x, m.dense_units, m.dropout), name="pool")


def build_naive_bayes(m, data: DataSpec) -> keras.Model:
    tokens = keras.Input(shape=(data.seq_len,), dtype="int32", name="tokens")
    ids = HashedNGrams(data.vocab_size, m.ngrams, m.ngram_buckets, name="ngrams")(tokens)
    ids = DistinctIds(name="distinct")(ids)
    rows = data.vocab_size + m.ngram_buckets
    logit = NaiveBayesLogit(rows, m.w_adj, m.r_adj, m.l2, m.solver, m.C, m.intercept, name="nb")(
        ids
    )
    probability = keras.layers.Activation("sigmoid", name="probability")(logit)
    return keras.Model(tokens, probability, name="naive_bayes")


def adapt_to_training_data(model: keras.Model, x, y) -> None:
    """Data-dependent initialisation from the training split (the naive-Bayes ratios)."""
    for layer in model.layers:
        if isinstance(layer, NaiveBayesLogit):
            features = keras.Model(model.inputs, layer.input)
            layer.adapt(features.predict(x, batch_size=1024, verbose=0), y)


def pool_sequence(x, pooling: str):
    """Summarise recurrent outputs: the last state, or masked average + max over all steps."""
    if pooling == "last":
        return x
    average = keras.layers.GlobalAveragePooling1D(name="average")(x)
    if pooling == "avg":
        return average
    return keras.layers.Concatenate(name="avg_max")([average, MaskedGlobalMax(name="max")(x)])


def build_recurrent(m, data: DataSpec) -> keras.Model:
    tokens, x = token_inputs(data, m, mask=m.mask_padding)
    if m.embedding_dropout:
        # Drops whole embedding channels, the usual regulariser for small text RNNs.
        x = keras.layers.SpatialDropout1D(m.embedding_dropout, name="embedding_dropout")(x)
    layer_type = recurrent_layer(m.cell)
    for depth, units in enumerate(m.units):
        last = depth == len(m.units) - 1
        layer = layer_type(
            units,
            return_sequences=not last or m.pooling != "last",
            dropout=m.dropout,
            recurrent_dropout=m.recurrent_dropout,
        )
        x = keras.layers.Bidirectional(layer)(x) if m.bidirectional else layer(x)
    x = pool_sequence(x, m.pooling)
    name = ("bi" if m.bidirectional else "") + m.cell
    return keras.Model(tokens, classifier_head(x, m.dense_units, m.head_dropout), name=name)


def build_equation_rnn(m, data: DataSpec) -> keras.Model:
    tokens, x = token_inputs(data, m, mask=m.mask_padding)
    x = keras.layers.RNN(EquationRNNCell(m.units, activation=m.activation), name="equation_rnn")(x)
    return keras.Model(tokens, classifier_head(x, 0), name="equation_rnn")


def build_looped_cells(m, data: DataSpec) -> keras.Model:
    return LoopedCellsClassifier(
        data.vocab_size, m.embedding_dim, m.units, m.dropout, name="looped_cells"
    )


def build_char_rnn(m, data: DataSpec) -> keras.Model:
    chars = keras.Input(shape=(None,), dtype="int32", name="chars")
    x = keras.layers.Embedding(data.vocab_size, m.embedding_dim, name="embedding")(chars)
    for depth in range(m.layers):
        x = recurrent_layer(m.cell)(
            m.units, return_sequences=True, dropout=m.dropout, name=f"rnn_{depth}"
        )(x)
    logits = keras.layers.Dense(data.vocab_size, name="logits")(x)
    return keras.Model(chars, logits, name=f"char_{m.cell}")


def build_sine_lstm(m, data: DataSpec) -> keras.Model:
    steps, features = (1, data.seq_len) if m.input_layout == "book" else (data.seq_len, 1)
    window = keras.Input(shape=(steps, features), name="window")
    x = window
    for depth, units in enumerate(m.units):
        x = keras.layers.LSTM(units, return_sequences=depth < len(m.units) - 1)(x)
    return keras.Model(window, keras.layers.Dense(1, name="next_value")(x), name="sine_lstm")
