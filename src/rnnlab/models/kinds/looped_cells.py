"""The `looped_cells` kind: seed 001's "MyRNN", two SimpleRNN cells stepped over the time
axis by a Python loop in a subclassed Keras model."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops

from rnnlab.data.splits import DataSpec
from rnnlab.models.registry import ModelKind


@dataclass
class LoopedCellsModel:
    type: str = "looped_cells"
    embedding_dim: int = 100
    units: int = 64
    dropout: float = 0.5


@keras.saving.register_keras_serializable(package="rnnlab")
class LoopedCellsClassifier(keras.Model):
    """Seed 001's "MyRNN": two SimpleRNN cells stepped over the time axis explicitly.

    The Python loop over time steps is unrolled into the graph, as in the seed; cell
    dropout is active only when training.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int, units: int, dropout: float = 0.5, **kwargs
    ):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.units, self.dropout = units, dropout
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.cell0 = keras.layers.SimpleRNNCell(units, dropout=dropout)
        self.cell1 = keras.layers.SimpleRNNCell(units, dropout=dropout)
        self.head = keras.layers.Dense(1, activation="sigmoid")

    def call(self, inputs, training=False):
        x = self.embedding(inputs)
        # Keras cells cache their dropout mask (one mask per sequence, as keras.layers.RNN
        # does); a hand-written loop must clear it per call or a mask from a previous
        # trace would leak into this one.
        self.cell0.reset_dropout_mask()
        self.cell1.reset_dropout_mask()
        batch = ops.shape(x)[0]
        state0 = [ops.zeros((batch, self.units))]
        state1 = [ops.zeros((batch, self.units))]
        out1 = state1[0]
        for t in range(x.shape[1]):
            out0, state0 = self.cell0(x[:, t, :], state0, training=training)
            out1, state1 = self.cell1(out0, state1, training=training)
        return self.head(out1)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "dropout": self.dropout,
        }


def build_looped_cells(m, data: DataSpec) -> keras.Model:
    return LoopedCellsClassifier(
        data.vocab_size, m.embedding_dim, m.units, m.dropout, name="looped_cells"
    )


KIND = ModelKind(LoopedCellsModel, build_looped_cells, ("binary_text",))
