"""Model kinds (registry, kinds/), the parts they share, and the stacking of several
models; `build_model` builds one, `load_model` loads a saved one."""

from __future__ import annotations

from pathlib import Path

import keras

from rnnlab.models.registry import build_model, kind_names, load_kind

__all__ = ["build_model", "load_model"]


def load_model(path: str | Path, kind: str | None = None) -> keras.Model:
    """A saved .keras model, with its kind's custom objects registered.

    kind: the `model.type` it was built as. A stage names it, so it imports just the kind
    module its dvc.yaml deps list; unnamed (a model server), every kind loads.
    safe_mode: a model file may not smuggle arbitrary code (lambda layers) into the
    process that loads it (an evaluation stage or a model server).
    """
    for name in [kind] if kind else kind_names():  # importing a kind registers its layers
        load_kind(name)
    return keras.saving.load_model(path, safe_mode=True)
