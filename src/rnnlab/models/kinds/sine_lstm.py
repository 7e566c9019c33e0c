"""The `sine_lstm` kind: seed 002's stacked LSTMs over a window of a series, and a Dense
layer for the next value; `input_layout: book` keeps the book's (N, 1, steps) input."""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

from rnnlab.data.splits import DataSpec
from rnnlab.models.registry import ModelKind


@dataclass
class SineLSTMModel:
    type: str = "sine_lstm"
    units: list[int] = field(default_factory=lambda: [30, 30])
    input_layout: str = "steps"


def build_sine_lstm(m, data: DataSpec) -> keras.Model:
    steps, features = (1, data.seq_len) if m.input_layout == "book" else (data.seq_len, 1)
    window = keras.Input(shape=(steps, features), name="window")
    x = window
    for depth, units in enumerate(m.units):
        x = keras.layers.LSTM(units, return_sequences=depth < len(m.units) - 1)(x)
    return keras.Model(window, keras.layers.Dense(1, name="next_value")(x), name="sine_lstm")


KIND = ModelKind(SineLSTMModel, build_sine_lstm, ("series",))
