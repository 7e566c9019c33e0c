"""Model kinds (registry), their builders and custom layers; `build_model` builds one."""

from __future__ import annotations

from pathlib import Path

import keras

from rnnlab.models.registry import build_model

__all__ = ["build_model", "load_model"]


def load_model(path: str | Path) -> keras.Model:
    """A saved .keras model, with this package's custom objects registered.

    safe_mode: a model file may not smuggle arbitrary code (lambda layers) into the
    process that loads it (an evaluation stage or a model server).
    """
    import rnnlab.models.layers  # noqa: F401  (registers the custom objects)

    return keras.saving.load_model(path, safe_mode=True)
