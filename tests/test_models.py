import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from rnnlab.errors import ConfigError
from rnnlab.models.builders import DataSpec, build_model
from rnnlab.models.layers import EquationRNNCell

SEED_002_W = np.array([[0.1, 0.2], [0.3, 0.4]])
SEED_002_U = np.array([[0.5, 0.6]])
SEED_002_B = np.array([0.1, -0.1])
SEED_002_V = np.array([[1.0], [2.0]])
SEED_002_C = np.array([0.1])


def seed_002_model(cell: keras.layers.Layer) -> keras.Model:
    inputs = keras.Input(shape=(2, 1), dtype="float64")
    states = keras.layers.RNN(cell, return_sequences=True, dtype="float64")(inputs)
    outputs = keras.layers.Dense(1, dtype="float64")(states)
    model = keras.Model(inputs, outputs)
    model.layers[1].set_weights([SEED_002_U, SEED_002_W, SEED_002_B])
    model.layers[2].set_weights([SEED_002_V, SEED_002_C])
    return model


def test_equation_cell_reproduces_seed_002_worked_example() -> None:
    model = seed_002_model(EquationRNNCell(2, dtype="float64"))
    outputs = model.predict(np.array([[[1.0], [2.0]]]), verbose=0).ravel()
    np.testing.assert_allclose(outputs, [1.56128388, 2.72707101], atol=5e-9)


def test_equation_cell_matches_keras_simple_rnn() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    ours = keras.layers.RNN(EquationRNNCell(5), return_sequences=True)
    theirs = keras.layers.SimpleRNN(5, return_sequences=True)
    ours.build(x.shape)
    theirs.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-6)


def test_classifier_on_character_data_is_refused() -> None:
    model_cfg = OmegaConf.create({"type": "recurrent"})
    with pytest.raises(ConfigError, match="is a imdb model but the dataset is 'shakespeare'"):
        build_model(model_cfg, DataSpec(task="shakespeare", vocab_size=65))


def test_unknown_model_type_lists_allowed() -> None:
    with pytest.raises(
        ConfigError, match=r"model.type='transformer' is unknown; allowed: \['char_rnn'"
    ):
        build_model(OmegaConf.create({"type": "transformer"}), DataSpec(task="imdb"))
