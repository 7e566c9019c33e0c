"""The task registry: a task is named by its package, `rnnlab.tasks.<name>` for the built-in
ones or any importable module path for a task of another project (docs/extending.md).

Nothing outside this package branches on a task's name: it asks the task.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import replace
from functools import cache
from pathlib import Path

from rnnlab.data.splits import Splits
from rnnlab.errors import ConfigError, DataError
from rnnlab.io import read_json
from rnnlab.tasks.base import Task

__all__ = ["Task", "builtin_tasks", "get_task", "load_prepared"]


def builtin_tasks() -> list[str]:
    """Names of the tasks shipped in this package (its sub-packages)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


@cache
def get_task(name: str) -> Task:
    """The task called `name`: rnnlab.tasks.<name>, else the module at that import path."""
    module = None
    for path in (f"{__name__}.{name}", name):
        try:
            module = importlib.import_module(path)
            break
        except ModuleNotFoundError as exc:
            if exc.name not in (path, path.split(".")[0]):
                raise  # the task exists but one of its own imports is missing
    task = getattr(module, "TASK", None)
    if not isinstance(task, Task):
        raise ConfigError(
            f"dataset.task={name!r} is unknown; built-in tasks: {', '.join(builtin_tasks())} "
            "(or an importable module that defines TASK, see docs/extending.md)"
        )
    return replace(task, package=module.__name__)


def load_prepared(folder: Path, layout: str = "steps", held_out_only: bool = False) -> Splits:
    """The arrays of a prepared folder: every split, or only the one evaluation scores."""
    if not (folder / "meta.json").is_file():
        raise DataError(f"{folder} is not a prepared dataset (no meta.json); run `dvc repro` first")
    meta = read_json(folder / "meta.json")
    return get_task(meta["task"]).load_splits(folder, meta, layout, held_out_only)
