"""Adversarial training on the token embedding (Miyato, Dai & Goodfellow 2017, "Adversarial
Training Methods for Semi-Supervised Text Classification").

Each training step also scores the batch with every review's embedded sequence moved by
`epsilon` (L2 norm over the review) in the direction that raises its loss most, and trains
on the clean loss plus that adversarial loss. Only training changes: the wrapper is dropped
after `fit`, so the saved, evaluated and served model is the model kind's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keras
import tensorflow as tf

from rnnlab.errors import ConfigError
from rnnlab.models.parts import EMBEDDING


def perturbation(gradient: tf.Tensor, epsilon: float) -> tf.Tensor:
    """The worst-case shift of each review's embedded sequence to first order: its loss
    gradient scaled to L2 norm `epsilon` over the review (all steps and channels)."""
    return epsilon * tf.math.l2_normalize(tf.stop_gradient(gradient), axis=[1, 2])


def add_gradients(a, b):
    # A weight the loss does not reach has None in both passes; the optimizer skips it.
    if a is None or b is None:
        return a if b is None else b
    # An embedding's gradient is a tf.IndexedSlices; concatenating two sums their rows.
    if isinstance(a, tf.IndexedSlices) and isinstance(b, tf.IndexedSlices):
        return tf.IndexedSlices(
            tf.concat([a.values, b.values], 0), tf.concat([a.indices, b.indices], 0), a.dense_shape
        )
    return tf.convert_to_tensor(a) + tf.convert_to_tensor(b)


@contextmanager
def shifted_output(layer: keras.layers.Layer, shift: tf.Tensor) -> Iterator[None]:
    """Calls of `layer` inside the block return its output plus `shift`. Used while the
    training step is traced, so the graph holds the shift and the layer keeps its own class
    (and its padding mask), with nothing to undo in the saved model."""
    original = layer.call
    layer.call = lambda *args, **kwargs: original(*args, **kwargs) + shift
    try:
        yield
    finally:
        del layer.call  # back to the class's method


class AdversarialTraining(keras.Model):
    """Trains `inner` (whose weights it shares) on clean + adversarial loss; predicts and
    validates as `inner` does."""

    def __init__(self, inner: keras.Model, epsilon: float) -> None:
        super().__init__(name=f"{inner.name}_adversarial")
        self.inner = inner
        self.epsilon = epsilon
        self.embedding = embedding_layer(inner)
        self.built = inner.built  # its weights are the inner model's (checkpoints need them)

    def call(self, inputs, training=None):
        return self.inner(inputs, training=training)

    def shifted_loss(self, x, y, sample_weight, shift: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with shifted_output(self.embedding, shift):
            y_pred = self.inner(x, training=True)
        return self.compute_loss(x, y, y_pred, sample_weight, training=True), y_pred

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        weights = self.trainable_weights
        # One backward pass gives the clean loss's gradient for the weights and for the
        # embedded batch; the second scores the shifted batch: 1.6x a plain step, measured.
        no_shift = tf.zeros(tf.concat([tf.shape(x), [self.embedding.output_dim]], 0))
        with tf.GradientTape() as tape:
            tape.watch(no_shift)
            loss, y_pred = self.shifted_loss(x, y, sample_weight, no_shift)
        *gradients, embedded_gradient = tape.gradient(loss, [*weights, no_shift])
        shift = perturbation(embedded_gradient, self.epsilon)
        with tf.GradientTape() as tape:
            adversarial_loss, _ = self.shifted_loss(x, y, sample_weight, shift)
        adversarial_gradients = tape.gradient(adversarial_loss, weights)
        summed = map(add_gradients, gradients, adversarial_gradients)
        self.optimizer.apply_gradients(zip(summed, weights, strict=True))
        self.track_loss(loss, x)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def track_loss(self, loss: tf.Tensor, x) -> None:
        """The logged `loss` is the clean one, comparable with a run without the shift.
        compute_loss divides by the replica count (for summing across replicas); undone."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss * replicas, sample_weight=tf.shape(x)[0])


def embedding_layer(model: keras.Model) -> keras.layers.Embedding:
    try:
        return model.get_layer(EMBEDDING)
    except ValueError:
        raise ConfigError(
            f"trainer.adversarial_epsilon shifts a token embedding, but model {model.name!r} "
            f"has no layer named {EMBEDDING!r}; set trainer.adversarial_epsilon=0 for "
            "this model"
        ) from None


def with_adversarial_training(model: keras.Model, epsilon: float) -> keras.Model:
    return AdversarialTraining(model, epsilon) if epsilon else model


def trained_model(model: keras.Model) -> keras.Model:
    """The model kind's own model behind a training wrapper."""
    return model.inner if isinstance(model, AdversarialTraining) else model
