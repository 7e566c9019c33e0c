"""The `char_rnn` kind: a character language model, an embedding, stacked recurrent layers
over every step and a Dense layer of next-character logits (seed 004, tuned)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import keras

from rnnlab.data.splits import DataSpec
from rnnlab.models.parts import recurrent_layer
from rnnlab.models.registry import ModelKind


@dataclass
class CharRNNModel:
    type: str = "char_rnn"
    cell: str = "gru"
    embedding_dim: int = 256
    units: int = 512
    layers: int = 1
    dropout: float = 0.0


def build_char_rnn(m, data: DataSpec) -> keras.Model:
    chars = keras.Input(shape=(None,), dtype="int32", name="chars")
    x = keras.layers.Embedding(data.vocab_size, m.embedding_dim, name="embedding")(chars)
    for depth in range(m.layers):
        x = recurrent_layer(m.cell)(
            m.units, return_sequences=True, dropout=m.dropout, name=f"rnn_{depth}"
        )(x)
    logits = keras.layers.Dense(data.vocab_size, name="logits")(x)
    return keras.Model(chars, logits, name=f"char_{m.cell}")


def char_rnn_label(params: Mapping[str, str]) -> str:
    """e.g. `char 2x gru 256`; one layer is not counted."""
    layers = params.get("layers", "1")
    depth = f"{layers}x " if layers != "1" else ""
    return f"char {depth}{params['cell']} {params['units']}"


KIND = ModelKind(CharRNNModel, build_char_rnn, ("char_lm",), label=char_rnn_label)
