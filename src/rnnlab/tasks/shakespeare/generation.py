"""Stateful character generation, one character at a time, with temperature sampling.

Works on any trained char model (Embedding -> recurrent layers -> Dense logits): the
recurrent layers' cells are stepped by hand, carrying their states, so generation needs no
fixed-batch stateful copy of the model.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from rnnlab.errors import ConfigError


class CharGenerator:
    def __init__(self, model: keras.Model, vocabulary: list[str]):
        self.vocabulary = vocabulary
        self.index = {c: i for i, c in enumerate(vocabulary)}
        self.embedding = model.get_layer("embedding")
        self.rnns = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
        self.head = model.get_layer("logits")
        self.step = tf.function(self._step)

    def _step(self, char_ids, states):
        x = self.embedding(char_ids)
        new_states = []
        for layer, state in zip(self.rnns, states, strict=True):
            x, state = layer.cell(x, state, training=False)
            new_states.append(state)
        return self.head(x), new_states

    def initial_states(self):
        return [
            [tf.zeros((1, size)) for size in np.atleast_1d(layer.cell.state_size)]
            for layer in self.rnns
        ]

    def encode(self, prompt: str) -> list[int]:
        unknown = sorted(set(prompt) - set(self.index))
        if not prompt or unknown:
            raise ConfigError(
                f"prompt characters outside the model's vocabulary: {unknown}; allowed: "
                f"{''.join(self.vocabulary)!r}"
                if unknown
                else "the prompt is empty; give at least one character"
            )
        return [self.index[c] for c in prompt]

    def generate(self, prompt: str, length: int, temperature: float = 1.0, seed: int = 0) -> str:
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        rng = np.random.default_rng(seed)
        states = self.initial_states()
        logits = None
        for char_id in self.encode(prompt):
            logits, states = self.step(tf.constant([char_id]), states)
        out = []
        for _ in range(length):
            scaled = logits.numpy()[0].astype(np.float64) / temperature
            probs = np.exp(scaled - scaled.max())
            choice = int(rng.choice(len(probs), p=probs / probs.sum()))
            out.append(self.vocabulary[choice])
            logits, states = self.step(tf.constant([choice]), states)
        return prompt + "".join(out)
