"""The Task interface: everything that differs between IMDB, Shakespeare and sine.

A task is a package whose `__init__.py` defines `TASK`, an instance of a `Task` subclass,
plus one module per pipeline role, imported only by the stage that plays it so that each
stage depends on exactly the code that shapes its outputs:

- `settings.py`: `DATASET`, the dataclass that names and types the `dataset:` settings
  (their values live in conf/dataset/<task>.yaml and reach the stages as DVC params);
- `prepare.py`: `prepare(dataset, cfg, root, output) -> meta` (and, for a task whose raw
  download needs a parsing step, `parse(raw_file, output)`);
- `evaluate.py`: `evaluate(model, splits, out, cfg) -> EvaluationResult` (metrics, plots
  and per-example predictions on the held-out split; the type is in tasks/evaluation.py);
- `serve.py`: `WRAPPER` (an mlflow.pyfunc.PythonModel taking raw inputs), `INPUT`,
  `OUTPUTS`, `PARAMS` (its signature), `VOCABULARY` (a prepared file it carries, or None)
  and `preprocessing(meta, layout)` (the settings inference needs);
- `command.py`: `COMMAND`, the `rnnlab` subcommand that uses a trained model (kept light:
  the CLI builds its parser from it).

docs/extending.md walks through adding one.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from rnnlab.data.splits import DataSpec, Splits, word_vectors_file
from rnnlab.errors import ConfigError
from rnnlab.io import load_array


@dataclass(frozen=True)
class UseCommand:
    """An `rnnlab` subcommand that uses a trained model of the task (predict, generate, ...)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Any], str]  # (arguments, pyfunc model) -> output text


@dataclass(frozen=True)
class Task:
    """What the rest of the pipeline asks a task. Subclasses set the fields and may override
    the hooks (loss, held-out id, loading)."""

    name: str
    title: str  # leaderboard heading: what is measured and which way is better
    problem: str  # the input/output shape that model kinds declare they fit (models/registry)
    mlflow_experiment: str
    registered_model: str
    main_metric: str  # on the held-out split; promotion and the leaderboard rank by it
    higher_is_better: bool  # for main_metric and validation_metric alike
    validation_metric: str  # per epoch on validation: what a Hydra sweep optimises
    splits: tuple[str, ...] = ("train", "val", "test")  # in the prepared folder; last = scored
    source: str | None = None  # the raw download (sources.<name>) its prepare stage reads
    metric_digits: int = 4
    # None: refitting on train+val is allowed; else the reason it is not.
    refit_forbidden: str | None = None
    # Whether dataset.val_fraction may be 0 (no validation split at all).
    validation_optional: bool = False
    package: str = field(default="", compare=False)  # set by the registry: where roles live

    ROLES: ClassVar[tuple[str, ...]] = ("settings", "prepare", "evaluate", "serve", "command")

    @property
    def held_out(self) -> str:
        """The split evaluation scores: test, or validation where the task has no test."""
        return self.splits[-1]

    @property
    def dataset_schema(self) -> type:
        """The dataclass the `dataset:` settings are checked against (settings.DATASET)."""
        return self.role("settings").DATASET

    def role(self, name: str) -> ModuleType:
        """The task's module for one role (settings, prepare, evaluate, serve, command)."""
        if name not in self.ROLES:
            raise ValueError(f"unknown task role {name!r}; roles: {self.ROLES}")
        return importlib.import_module(f"{self.package}.{name}")

    def loss_and_metrics(self) -> tuple[Any, list]:
        raise NotImplementedError

    def held_out_id(self, dataset: Any) -> str:
        """Identity of the held-out data: only scores on equal ids are comparable."""
        raise NotImplementedError

    def array_names(self, split: str, layout: str) -> tuple[str, str]:
        """Names of a split's input and target arrays in the prepared folder."""
        return f"x_{split}", f"y_{split}"

    def vocabulary(self, folder: Path) -> list[str] | None:
        """What generation needs beside the arrays (the character model's symbols)."""
        return None

    def data_spec(self, folder: Path, meta: dict) -> DataSpec:
        length = meta.get("max_len") or meta.get("seq_len") or meta.get("steps")
        return DataSpec(
            task=self.name,
            problem=self.problem,
            vocab_size=int(meta.get("vocab_size", 0)),
            seq_len=int(length),
            word_vectors=word_vectors_file(folder),
        )

    def load_splits(
        self, folder: Path, meta: dict, layout: str = "steps", held_out_only: bool = False
    ) -> Splits:
        names = (self.held_out,) if held_out_only else self.splits
        arrays = {}
        for split in names:
            x_name, y_name = self.array_names(split, layout)
            arrays[split] = (load_array(folder, x_name), load_array(folder, y_name))
        return Splits(self.data_spec(folder, meta), arrays, self.vocabulary(folder))

    def check_dataset(self, dataset: Any) -> None:
        """Task-specific rules on a typed dataset config (ConfigError names the fix)."""
        value = dataset.val_fraction
        ok = 0 <= value < 1 if self.validation_optional else 0 < value < 1
        if not ok:
            allowed = (
                "a number in [0, 1)"
                if self.validation_optional
                else "a number strictly between 0 and 1"
            )
            raise ConfigError(f"dataset.val_fraction={value!r} is invalid; allowed: {allowed}")

    def better(self, challenger: float, champion: float) -> float:
        """How much the challenger beats the champion by on the main metric (> 0: better)."""
        return challenger - champion if self.higher_is_better else champion - challenger

    def meets(self, value: float, target: float) -> bool:
        return bool(value >= target if self.higher_is_better else value <= target)

    def sort_key(self, value: float) -> float:
        """The value as a key that sorts best first in ascending order."""
        return -value if self.higher_is_better else value
