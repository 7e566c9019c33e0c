"""The one registry of model kinds: for each `model.type`, its config schema, its builder and
the problems it fits (a task's `problem`). The config schema's allowed values come from here.

A new kind is a dataclass, a builder in builders.py and one `ModelKind` line below
(docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import keras

from rnnlab.errors import ConfigError
from rnnlab.models import builders

# Which recurrent layer `model.cell` names.
RECURRENT_CELLS = builders.RECURRENT


@dataclass
class PoolModel:
    type: str = "pool"
    embedding_dim: int = 16
    mask_padding: bool = False
    dense_units: int = 64
    dropout: float = 0.0
    ngrams: int = 1
    ngram_buckets: int = 0
    pretrained_embedding: bool = False
    word_dropout: float = 0.0
    distinct_tokens: bool = False


@dataclass
class NaiveBayesModel:
    type: str = "naive_bayes"
    ngrams: int = 3
    ngram_buckets: int = 1048576
    w_adj: float = 0.4
    r_adj: float = 10.0
    l2: float = 0.0  # L2 penalty on the learned weights (per example; NBSVM's regularised fit)
    solver: str = "trainer"  # or "liblinear": NBSVM's exact fit when the ratios are set
    C: float = 1.0  # liblinear's inverse L2 strength, as scikit-learn names it
    intercept: bool = True  # learn a bias term b (the published NBSVM has none)


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


@dataclass
class LoopedCellsModel:
    type: str = "looped_cells"
    embedding_dim: int = 100
    units: int = 64
    dropout: float = 0.5


@dataclass
class EquationRNNModel:
    type: str = "equation_rnn"
    embedding_dim: int = 32
    units: int = 32
    activation: str = "tanh"
    mask_padding: bool = False


@dataclass
class CharRNNModel:
    type: str = "char_rnn"
    cell: str = "gru"
    embedding_dim: int = 256
    units: int = 512
    layers: int = 1
    dropout: float = 0.0


@dataclass
class SineLSTMModel:
    type: str = "sine_lstm"
    units: list[int] = field(default_factory=lambda: [30, 30])
    input_layout: str = "steps"


@dataclass(frozen=True)
class ModelKind:
    schema: type
    build: Callable[..., keras.Model]
    problems: tuple[str, ...]  # tasks whose `problem` is one of these can use the kind
    # Takes token sequences of any length and masks their padding (length bucketing keeps
    # every output unchanged for such a model when model.mask_padding is on).
    bucketable: bool = False


MODEL_KINDS: dict[str, ModelKind] = {
    "pool": ModelKind(PoolModel, builders.build_pool, ("binary_text",)),
    "naive_bayes": ModelKind(NaiveBayesModel, builders.build_naive_bayes, ("binary_text",)),
    "recurrent": ModelKind(
        RecurrentModel, builders.build_recurrent, ("binary_text",), bucketable=True
    ),
    "looped_cells": ModelKind(LoopedCellsModel, builders.build_looped_cells, ("binary_text",)),
    "equation_rnn": ModelKind(
        EquationRNNModel, builders.build_equation_rnn, ("binary_text",), bucketable=True
    ),
    "char_rnn": ModelKind(CharRNNModel, builders.build_char_rnn, ("char_lm",)),
    "sine_lstm": ModelKind(SineLSTMModel, builders.build_sine_lstm, ("series",)),
}


def kinds_for(problem: str) -> list[str]:
    return sorted(name for name, kind in MODEL_KINDS.items() if problem in kind.problems)


def model_kind(name: str, problem: str = "") -> ModelKind:
    """The registered kind `name`, checked to fit a task's `problem` (when given)."""
    if name not in MODEL_KINDS:
        raise ConfigError(f"model.type={name!r} is unknown; allowed: {', '.join(MODEL_KINDS)}")
    kind = MODEL_KINDS[name]
    if problem and problem not in kind.problems:
        raise ConfigError(
            f"model.type={name!r} is a {' or '.join(kind.problems)} model but the task is a "
            f"{problem} task; use model.type in: {', '.join(kinds_for(problem))}"
        )
    return kind


def build_model(model_cfg, data) -> keras.Model:
    """The Keras model of a `model:` config for the prepared data `data` (a DataSpec)."""
    return model_kind(model_cfg.type, data.problem).build(model_cfg, data)
