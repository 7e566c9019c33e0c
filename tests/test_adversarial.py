"""trainer.adversarial_epsilon: adversarial training on the token embedding."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnlab.errors import ConfigError
from rnnlab.training.adversarial import AdversarialTraining, perturbation
from rnnlab.training.fit import fit

from .test_refit import splits_and_config

LSTM = [
    "experiment=imdb_lstm",
    "model.units=[4]",
    "trainer.batch_size=4",
    "trainer.epochs=1",
    "trainer.refit=false",
]


def test_the_shift_has_norm_epsilon_per_review_along_the_gradient() -> None:
    gradient = tf.random.stateless_normal((3, 5, 2), seed=(1, 2))
    shift = perturbation(gradient, 0.5).numpy()

    assert np.linalg.norm(shift.reshape(3, -1), axis=1) == pytest.approx([0.5] * 3, rel=1e-5)
    cosine = np.sum(shift * gradient.numpy(), axis=(1, 2)) / (
        0.5 * np.linalg.norm(gradient.numpy().reshape(3, -1), axis=1)
    )
    assert cosine == pytest.approx([1.0] * 3, rel=1e-5)


def tiny_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    tokens = keras.Input(shape=(3,), dtype="int32")
    embedded = keras.layers.Embedding(6, 2, name="embedding")(tokens)
    flat = keras.layers.Flatten()(embedded)
    return keras.Model(tokens, keras.layers.Dense(1, activation="sigmoid")(flat))


def bce(y, probability) -> tf.Tensor:
    return tf.reduce_mean(keras.losses.binary_crossentropy(y, probability))


def expected_step(model: keras.Model, x, y, epsilon: float, rate: float) -> list[np.ndarray]:
    """One SGD step on loss(x) + loss(x shifted at the embedding), computed by hand."""
    table, kernel, bias = (tf.Variable(w) for w in model.get_weights())

    def loss(shift):
        embedded = tf.gather(table, x) + shift
        flat = tf.reshape(embedded, (len(x), -1))
        return bce(y, tf.sigmoid(flat @ kernel + bias))

    no_shift = tf.zeros((*x.shape, 2))
    with tf.GradientTape() as tape:
        tape.watch(no_shift)
        clean = loss(no_shift)
    shift = perturbation(tape.gradient(clean, no_shift), epsilon)
    with tf.GradientTape() as tape:
        total = loss(tf.zeros_like(shift)) + loss(shift)
    gradients = tape.gradient(total, [table, kernel, bias])
    return [
        w.numpy() - rate * tf.convert_to_tensor(g).numpy()
        for w, g in zip([table, kernel, bias], gradients, strict=True)
    ]


def test_a_step_trains_on_the_clean_plus_the_shifted_loss() -> None:
    x = np.array([[1, 2, 3], [4, 5, 1], [2, 2, 0], [3, 0, 0]], dtype="int32")
    y = np.array([[1.0], [0.0], [1.0], [0.0]], dtype="float32")
    inner = tiny_model()
    expected = expected_step(inner, x, y, epsilon=0.7, rate=0.5)

    model = AdversarialTraining(inner, 0.7)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    clean_loss = float(bce(y, inner(x)))
    logs = model.train_on_batch(x, y, return_dict=True)

    for got, want in zip(inner.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert logs["loss"] == pytest.approx(clean_loss, rel=1e-5)  # the clean loss is logged
    # The shift was only in the training step: the inner model predicts unshifted.
    np.testing.assert_allclose(model.predict(x, verbose=0), inner.predict(x, verbose=0))


class WithSpareWeight(keras.layers.Layer):
    """Passes its input through; its weight is one no loss reaches."""

    def build(self, input_shape) -> None:
        self.spare = self.add_weight(shape=(1,), initializer="ones", name="spare")

    def call(self, x):
        return x


def test_a_weight_the_loss_does_not_reach_is_skipped_as_keras_skips_it() -> None:
    keras.utils.set_random_seed(0)
    tokens = keras.Input(shape=(3,), dtype="int32")
    embedded = keras.layers.Embedding(6, 2, name="embedding")(tokens)
    flat = WithSpareWeight()(keras.layers.Flatten()(embedded))
    inner = keras.Model(tokens, keras.layers.Dense(1, activation="sigmoid")(flat))
    start = [w.numpy().copy() for w in inner.weights]
    model = AdversarialTraining(inner, 0.7)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    x = np.array([[1, 2, 3], [4, 5, 1]], dtype="int32")
    model.train_on_batch(x, np.array([[1.0], [0.0]], dtype="float32"))

    moved = {
        w.path: not np.allclose(w.numpy(), s) for w, s in zip(inner.weights, start, strict=True)
    }
    assert [path for path, changed in moved.items() if not changed] == ["with_spare_weight/spare"]


def test_fit_trains_adversarially_and_returns_the_kinds_own_model(
    tiny_root: Path, tmp_path: Path
) -> None:
    plain_cfg, splits = splits_and_config(tiny_root, [*LSTM, "trainer.adversarial_epsilon=0"])
    adversarial_cfg, _ = splits_and_config(tiny_root, [*LSTM, "trainer.adversarial_epsilon=1"])
    plain, _, _ = fit(plain_cfg, splits, tmp_path / "plain")
    adversarial, history, _ = fit(adversarial_cfg, splits, tmp_path / "adversarial")

    assert not isinstance(adversarial, AdversarialTraining)
    assert type(adversarial) is type(plain)
    assert [w.name for w in adversarial.weights] == [w.name for w in plain.weights]
    # Same seed and data, another objective: the weights moved differently.
    assert any(
        not np.allclose(a, b)
        for a, b in zip(adversarial.get_weights(), plain.get_weights(), strict=True)
    )
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(history.columns)
    saved = tmp_path / "model.keras"
    adversarial.save(saved)
    x = splits.arrays["val"][0]
    np.testing.assert_allclose(
        keras.saving.load_model(saved).predict(x, verbose=0),
        adversarial.predict(x, verbose=0),
        rtol=1e-6,
    )


def test_a_model_without_a_token_embedding_is_refused() -> None:
    tokens = keras.Input(shape=(3,))
    model = keras.Model(tokens, keras.layers.Dense(1)(tokens), name="no_embedding")
    with pytest.raises(ConfigError, match=r"no layer named 'embedding'.*adversarial_epsilon=0"):
        AdversarialTraining(model, 1.0)
