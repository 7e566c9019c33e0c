"""Trained models as MLflow pyfunc models that take raw inputs.

The task's serve module (rnnlab.tasks.<task>.serve) gives the wrapper class, its signature
and the preprocessing settings; this module saves the wrapper beside model.keras (and the
prepared vocabulary, if the task needs one), logs it as the run's `model` and loads it back.
The wrappers are classes of this package, so loading one needs `rnnlab` importable (the
project's venv, as with `mlflow models serve --env-manager local`); the model files
themselves are inside.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from omegaconf import DictConfig

from rnnlab.errors import ConfigError
from rnnlab.io import read_json, write_json
from rnnlab.tasks import Task, get_task

TASK_METADATA = "rnnlab_task"
PARAM_TYPES = {int: "long", float: "double"}


def signature(serve: ModuleType) -> ModelSignature:
    params = [
        ParamSpec(name, PARAM_TYPES[type(default)], default)
        for name, default in serve.PARAMS.items()
    ]
    return ModelSignature(
        inputs=Schema([ColSpec(*serve.INPUT)]),
        outputs=Schema([ColSpec(*column) for column in serve.OUTPUTS]),
        params=ParamSchema(params) if params else None,
    )


# Where the CPU-only wheel exists (as pyproject.toml's `cpu` extra); elsewhere (macOS, Linux
# aarch64) the same version of `tensorflow`. Both install the one `tensorflow` module.
CPU_WHEEL_SYSTEM = {"sys_platform": "linux", "platform_machine": "x86_64"}
CPU_WHEEL = " and ".join(f'{key} == "{value}"' for key, value in CPU_WHEEL_SYSTEM.items())
# PEP 508 markers have no `not`: the complement is written out (De Morgan).
NOT_CPU_WHEEL = " or ".join(f'{key} != "{value}"' for key, value in CPU_WHEEL_SYSTEM.items())


def requirements() -> list[str]:
    import keras
    import tensorflow as tf

    return [
        f"tensorflow-cpu=={tf.__version__}; {CPU_WHEEL}",
        f"tensorflow=={tf.__version__}; {NOT_CPU_WHEEL}",
        f"keras=={keras.__version__}",
        f"mlflow=={mlflow.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]


@contextmanager
def serving_model_args(
    task: Task, model_file: Path, data_dir: Path, cfg: DictConfig
) -> Iterator[dict]:
    """Arguments for mlflow.pyfunc.save_model / log_model of the task's wrapper for the
    experiment `cfg`."""
    serve = task.role("serve")
    meta = read_json(data_dir / "meta.json")
    with tempfile.TemporaryDirectory(prefix="rnnlab-serving-") as tmp:
        settings = Path(tmp) / "preprocessing.json"
        write_json(settings, serve.preprocessing(meta, cfg))
        artifacts = {"model": str(model_file), "preprocessing": str(settings)}
        if serve.VOCABULARY:
            artifacts["vocabulary"] = str(data_dir / serve.VOCABULARY)
        yield {
            "python_model": serve.WRAPPER(),
            "artifacts": artifacts,
            "signature": signature(serve),
            "pip_requirements": requirements(),
            "metadata": {TASK_METADATA: task.name},
        }


def save_and_log(
    target: Path, task: Task, model_file: Path, data_dir: Path, cfg: DictConfig
) -> str:
    """Save the wrapper to `target` and log it as the active run's `model`; returns its URI."""
    with serving_model_args(task, model_file, data_dir, cfg) as args:
        mlflow.pyfunc.save_model(path=str(target), **args)
        return mlflow.pyfunc.log_model(name="model", **args).model_uri


@dataclass(frozen=True)
class Member:
    """One model of an ensemble, as `save_and_log` takes a single one."""

    name: str
    model_file: Path
    data_dir: Path
    cfg: DictConfig  # its experiment


def save_ensemble_and_log(target: Path, task: Task, members: list[Member], stacking: dict) -> str:
    """Save the task's ensemble wrapper (each member's serving model inside it, combined by
    `stacking`) to `target` and log it as the active run's `model`; returns its URI."""
    serve = task.role("serve")
    with tempfile.TemporaryDirectory(prefix="rnnlab-ensemble-") as tmp:
        artifacts = {}
        for member in members:
            folder = Path(tmp) / f"member_{member.name}"
            with serving_model_args(task, member.model_file, member.data_dir, member.cfg) as args:
                mlflow.pyfunc.save_model(path=str(folder), **args)
            artifacts[folder.name] = str(folder)
        settings = Path(tmp) / "ensemble.json"
        write_json(settings, {"members": list(artifacts), "stacking": stacking})
        args = {
            "python_model": serve.ENSEMBLE_WRAPPER(),
            "artifacts": {**artifacts, serve.ENSEMBLE_SETTINGS: str(settings)},
            "signature": signature(serve),
            "pip_requirements": requirements(),
            "metadata": {TASK_METADATA: task.name},
        }
        mlflow.pyfunc.save_model(path=str(target), **args)
        return mlflow.pyfunc.log_model(name="model", **args).model_uri


def task_of(model) -> str:
    return (model.metadata.metadata or {}).get(TASK_METADATA, "unknown")


def load(uri: str, task: str):
    """Load a pyfunc model by URI or path and check it serves `task`; clear errors if not."""
    try:
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise ConfigError(
            f"cannot load model {uri!r}: {first_line(exc)}; pass --model with a registered "
            "model URI (models:/<name>@<alias> or models:/<name>/<version>), a runs:/ URI, "
            "or a path to serving/<experiment>"
        ) from exc
    found = task_of(model)
    if found != task:
        registered = get_task(task).registered_model
        raise ConfigError(
            f"model {uri!r} is a model for the {found} task, but this command needs one for "
            f"the {task} task; "
            f"pass --model models:/{registered}@champion or a serving/<{task} experiment> path"
        )
    return model


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
