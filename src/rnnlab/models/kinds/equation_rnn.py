"""The `equation_rnn` kind: seeds 000, 002 and 003's recurrence written out as a Keras cell,
s_t = f(U x_t + W s_{t-1} + b), under keras.layers.RNN, with a classifier head."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops

from rnnlab.data.splits import DataSpec
from rnnlab.models.parts import classifier_head, token_inputs
from rnnlab.models.registry import ModelKind


@dataclass
class EquationRNNModel:
    type: str = "equation_rnn"
    embedding_dim: int = 32
    units: int = 32
    activation: str = "tanh"
    mask_padding: bool = False


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


def build_equation_rnn(m, data: DataSpec) -> keras.Model:
    tokens, x = token_inputs(data, m, mask=m.mask_padding)
    x = keras.layers.RNN(EquationRNNCell(m.units, activation=m.activation), name="equation_rnn")(x)
    return keras.Model(tokens, classifier_head(x, 0), name="equation_rnn")


KIND = ModelKind(EquationRNNModel, build_equation_rnn, ("binary_text",), bucketable=True)
