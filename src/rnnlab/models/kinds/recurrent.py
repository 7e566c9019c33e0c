"""The `recurrent` kind: an embedding, stacked SimpleRNN / LSTM / GRU layers (optionally
bidirectional), their outputs pooled over the review, and a classifier head."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import keras
from keras import ops

from rnnlab.data.splits import DataSpec
from rnnlab.models.parts import classifier_head, recurrent_layer, token_inputs
from rnnlab.models.registry import ModelKind


@dataclass
class RecurrentModel:
    type: str = "recurrent"
    cell: str = "simple_rnn"
    embedding_dim: int = 32
    units: list[int] = field(default_factory=lambda: [32])
    bidirectional: bool = False
    mask_padding: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    dense_units: int = 0
    pooling: str = "last"
    embedding_dropout: float = 0.0
    head_dropout: float = 0.0
    # true: the embedding starts from the dataset's word vectors (dataset.word_vectors).
    pretrained_embedding: bool = False


@keras.saving.register_keras_serializable(package="rnnlab")
class MaskedGlobalMax(keras.layers.Layer):
    """Max over time that skips padded steps (keras.layers.GlobalMaxPooling1D ignores masks)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, mask=None):
        if mask is not None:
            lowest = ops.full_like(x, -1e9)
            x = ops.where(ops.expand_dims(mask, -1), x, lowest)
        return ops.max(x, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


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


def recurrent_label(params: Mapping[str, str]) -> str:
    """e.g. `bilstm [32, 32]`: the cell, bi when bidirectional, the units of each layer."""
    bi = "bi" if params.get("bidirectional") == "True" else ""
    return f"{bi}{params['cell']} {params['units']}"


KIND = ModelKind(
    RecurrentModel, build_recurrent, ("binary_text",), bucketable=True, label=recurrent_label
)
