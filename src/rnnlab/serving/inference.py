"""The model a use command (`rnnlab predict`, `generate`, `forecast`) runs on.

A model is named by an MLflow URI or a local path (serving/<experiment> from DVC, or any
saved pyfunc model folder). Without one, the task's champion: the registry's `champion`
alias where the tracking store has it (a team server, or the machine that ran the
pipeline); else the pipeline's own record of it, reports/promotion.json, which git keeps,
pointing at serving/<experiment>, which DVC pulls: so a fresh clone finds the same model.
"""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from rnnlab.config.settings import load_params, resolve_path
from rnnlab.errors import ConfigError
from rnnlab.io import read_json
from rnnlab.serving import package
from rnnlab.tasks import get_task
from rnnlab.tracking import runs as tracking

PROMOTION_FILE = "promotion.json"
# What the registry answers when the model or its alias is not there.
NOT_REGISTERED = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}


def default_model(task: str) -> str:
    return f"models:/{get_task(task).registered_model}@{tracking.CHAMPION}"


def open_model(uri: str | None, task: str, root: Path):
    """The model and a line saying which one it is."""
    if uri is None:
        uri, source = champion(task, root)
    else:
        source = uri
    if not Path(uri).exists():  # registry and run URIs need the tracking store
        tracking.connect(root)
    return package.load(uri, task), source


def champion(task: str, root: Path) -> tuple[str, str]:
    store = tracking.tracking_uri(root)
    version = registered_champion(task, root)
    if version is not None:
        return default_model(task), f"{default_model(task)} (version {version}, {store})"
    return recorded_champion(task, root, store)


def registered_champion(task: str, root: Path) -> str | None:
    """The champion's version in the tracking store's registry, None if it has none."""
    store = tracking.tracking_uri(root)
    if not tracking.is_server(store) and not Path(store.removeprefix("sqlite:///")).is_file():
        return None  # no store yet (a fresh clone): do not create an empty one
    tracking.connect(root)
    try:
        found = MlflowClient().get_model_version_by_alias(
            get_task(task).registered_model, tracking.CHAMPION
        )
    except MlflowException as exc:
        if exc.error_code in NOT_REGISTERED:
            return None
        raise
    return str(found.version)


def recorded_champion(task: str, root: Path, store: str) -> tuple[str, str]:
    """serving/<experiment> of the champion named in reports/promotion.json."""
    params = load_params(root)
    record = resolve_path(params.paths.reports, root) / PROMOTION_FILE
    model = get_task(task).registered_model
    missing = f"{store} has no {model}@{tracking.CHAMPION}"
    entry = next((d for d in read_records(record) if d["task"] == task), None)
    if entry is None:
        raise ConfigError(
            f"no {task} champion: {missing}, and {record} names none; run the pipeline "
            "(make repro), pull its outputs (dvc pull), or pass --model"
        )
    if entry["promoted"]:
        experiment, run, version = (
            entry["challenger_experiment"],
            entry["challenger_run"],
            entry["challenger_version"],
        )
    else:
        experiment, run, version = (
            entry.get("champion_experiment"),
            entry.get("champion_run"),
            entry["champion_version"],
        )
    if experiment is None:
        raise ConfigError(
            f"{record} does not name the {task} champion's experiment (an older `rnnlab "
            "promote` wrote it); run `dvc repro promote`, or pass --model"
        )
    serving = resolve_path(params.paths.serving, root) / experiment
    check_serves_run(serving, resolve_path(params.paths.models, root) / experiment, run)
    return str(serving), (
        f"{serving}: the {task} champion recorded in {record} "
        f"({experiment}, {model} version {version}); {missing}"
    )


def read_records(record: Path) -> list[dict]:
    return read_json(record) if record.is_file() else []


def check_serves_run(serving: Path, model_dir: Path, run: str) -> None:
    """serving/<experiment> must be the champion's own model, not a later retraining."""
    run_file = model_dir / tracking.RUN_FILE
    if not serving.is_dir() or not run_file.is_file():
        raise ConfigError(
            f"the champion's model is not here ({serving} or {run_file} is missing); "
            "`dvc pull` the pipeline's outputs, or pass --model"
        )
    trained = read_json(run_file)["run_id"]
    if trained != run:
        raise ConfigError(
            f"the champion is MLflow run {run}, but {serving} holds run {trained} (retrained "
            "since, and not promoted); set MLFLOW_TRACKING_URI to the server with the "
            "registry, or pass --model"
        )
