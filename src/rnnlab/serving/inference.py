"""The model a use command (`rnnlab predict`, `generate`, `forecast`) runs on.

A model is named by an MLflow URI (default: the task's `champion` alias in the registry) or
a local path (serving/<experiment> from DVC, or any saved pyfunc model folder).
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.serving import package
from rnnlab.tasks import get_task
from rnnlab.tracking import runs as tracking


def default_model(task: str) -> str:
    return f"models:/{get_task(task).registered_model}@{tracking.CHAMPION}"


def open_model(uri: str | None, task: str, root: Path):
    uri = uri or default_model(task)
    if not Path(uri).exists():  # registry and run URIs need the tracking store
        tracking.connect(root)
    return package.load(uri, task)
