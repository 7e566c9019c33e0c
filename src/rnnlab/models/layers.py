"""Custom recurrent pieces from the seeds, as serializable Keras 3 objects."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnnlab")
class EquationRNNCell(keras.layers.Layer):
    """s_t = f(U x_t + W s_{t-1} + b), written out (seeds 000, 002, 003).

    Row-vector convention as in seed 002's numpy example: s_t = f(x_t U + s_{t-1} W + b),
    so `kernel` is U (input_dim, units) and `recurrent_kernel` is W (units, units); this is
    the same layout as keras.layers.SimpleRNNCell, which makes the two comparable weight for
    weight. The output o_t = V s_t + c is a Dense layer after the RNN.
    """

    def __init__(self, units: int, activation: str = "tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), name="kernel", initializer="glorot_uniform"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), name="recurrent_kernel", initializer="orthogonal"
        )
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")

    def call(self, inputs, states, training=False):
        previous = states[0] if isinstance(states, list | tuple) else states
        state = self.activation(
            ops.matmul(inputs, self.kernel)
            + ops.matmul(previous, self.recurrent_kernel)
            + self.bias
        )
        return state, [state]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
        }


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
