"""The one registry of model kinds: a kind is a module of rnnlab.models.kinds named by its
`model.type`, whose KIND says its config schema, its builder and the problems it fits (a
task's `problem`). The config schema's allowed values come from here.

Kinds load by name, so a stage imports only its own kind's module, and dvc.yaml names just
that file (`src/rnnlab/models/kinds/${item.model.type}.py`): a change to one kind retrains
that kind's experiments only. A new kind is one module (docs/extending.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import keras

from rnnlab.errors import ConfigError
from rnnlab.models import kinds


@dataclass(frozen=True)
class ModelKind:
    schema: type
    build: Callable[..., keras.Model]
    problems: tuple[str, ...]  # tasks whose `problem` is one of these can use the kind
    # Takes token sequences of any length and masks their padding (length bucketing keeps
    # every output unchanged for such a model when model.mask_padding is on).
    bucketable: bool = False
    # Data-dependent initialisation from the training split, before any training step.
    adapt: Callable[[keras.Model, Any, Any], None] | None = None
    # Short architecture name for the leaderboard, from the model's logged `model.*` params.
    label: Callable[[Mapping[str, str]], str] | None = None


def kind_names() -> list[str]:
    """Every `model.type`: the modules of rnnlab.models.kinds."""
    return sorted(m.name for m in pkgutil.iter_modules(kinds.__path__))


@cache
def load_kind(name: str) -> ModelKind:
    if name not in kind_names():
        raise ConfigError(f"model.type={name!r} is unknown; allowed: {', '.join(kind_names())}")
    return importlib.import_module(f"{kinds.__name__}.{name}").KIND


def kinds_for(problem: str) -> list[str]:
    return [name for name in kind_names() if problem in load_kind(name).problems]


def model_kind(name: str, problem: str = "") -> ModelKind:
    """The registered kind `name`, checked to fit a task's `problem` (when given)."""
    kind = load_kind(name)
    if problem and problem not in kind.problems:
        raise ConfigError(
            f"model.type={name!r} is a {' or '.join(kind.problems)} model but the task is a "
            f"{problem} task; use model.type in: {', '.join(kinds_for(problem))}"
        )
    return kind


def build_model(model_cfg, data) -> keras.Model:
    """The Keras model of a `model:` config for the prepared data `data` (a DataSpec)."""
    return model_kind(model_cfg.type, data.problem).build(model_cfg, data)


def model_label(params: Mapping[str, str]) -> str:
    """Short architecture name of a run's model from its logged `model.*` params (`type` and
    the kind's own), e.g. `bilstm [32, 32]`; the type itself where no kind names it better."""
    name = params.get("type", "")
    label = load_kind(name).label if name in kind_names() else None
    return label(params) if label else name


def adapt_to_training_data(model_cfg, model: keras.Model, x, y) -> None:
    """The kind's data-dependent initialisation from the training split, if it has one."""
    adapt = model_kind(model_cfg.type).adapt
    if adapt is not None:
        adapt(model, x, y)
