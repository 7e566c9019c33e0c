"""Model kinds (registry, kinds/), the parts they share, and the stacking of several
models; `build_model` builds one, `load_model` loads a saved one."""

from __future__ import annotations

from pathlib import Path

import keras

from rnnlab.models.registry import build_model, kind_names, load_kind

__all__ = ["build_model", "load_model"]


def load_model(path: str | Path) -> keras.Model:
    """A saved .keras model, with this package's custom objects registered.

    safe_mode: a model file may not smuggle arbitrary code (lambda layers) into the
    process that loads it (an evaluation stage or a model server).
    """
    for name in kind_names():  # importing a kind registers its custom layers
        load_kind(name)
    return keras.saving.load_model(path, safe_mode=True)
