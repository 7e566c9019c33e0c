"""Champion/challenger promotion against a real (sqlite) MLflow registry."""

from __future__ import annotations

from pathlib import Path

import keras
import mlflow
import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from rnnlab.pipeline import promote as promotion
from rnnlab.tasks import get_task
from rnnlab.tracking import runs as tracking

from .conftest import REPO

TINY_MODEL = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.connect(tmp_path)
    return tmp_path


def task_of(name: str) -> str:
    """The task of the experiments these tests name (imdb_*, sine_*, char)."""
    return {"imdb": "imdb", "sine": "sine", "char": "shakespeare"}[name.split("_")[0]]


def params(names: list[str], margin: float = 0.002) -> OmegaConf:
    registry = OmegaConf.load(REPO / "conf/registry/default.yaml")
    registry.margin.imdb = margin
    return OmegaConf.create(
        {
            "experiments": {n: {"dataset": {"task": task_of(n)}} for n in names},
            "registry": registry,
            "paths": {"reports": "reports"},
        }
    )


def evaluated_run(task: str, name: str, value: float, eval_data: str | None = None) -> int:
    """A run as evaluate leaves it: main metric, registered model version, tags."""
    metric = get_task(task).main_metric
    experiment_id = tracking.task_experiment(task, Path("."))
    with mlflow.start_run(run_name=name, experiment_id=experiment_id) as run:
        mlflow.log_metric(metric, value)
        # Explicit requirements: MLflow would otherwise infer them in a subprocess (~5 s each).
        uri = mlflow.keras.log_model(TINY_MODEL, name="model", pip_requirements=["keras"]).model_uri
        version = tracking.register(task, uri, run.info.run_id)
        mlflow.set_tags(
            {
                "task": task,
                "registry.version": version,
                "dvc.evaluate_stage": f"evaluate@{name}",
                "eval.data": eval_data or f"{task}/heldout",
            }
        )
    return version


def champion(task: str) -> int:
    return int(
        MlflowClient()
        .get_model_version_by_alias(get_task(task).registered_model, "champion")
        .version
    )


def test_better_is_promoted_worse_or_within_margin_is_kept(store: Path) -> None:
    outcomes = []
    for value in (0.80, 0.70, 0.85, 0.851):  # the last is within the 0.002 margin
        evaluated_run("imdb", "imdb_lstm", value)
        [decision] = promotion.promote(params(["imdb_lstm"]), store)
        outcomes.append((decision.promoted, champion("imdb")))
    assert outcomes == [(True, 1), (False, 1), (True, 3), (False, 3)]
    report = (store / "reports" / "promotion.md").read_text()
    assert "does not beat the champion by more than 0.002 on test_accuracy" in report


def test_best_experiment_of_the_task_is_the_challenger(store: Path) -> None:
    evaluated_run("imdb", "imdb_gru", 0.88)
    best = evaluated_run("imdb", "imdb_lstm", 0.89)
    evaluated_run("sine", "sine_lstm", 0.002)
    decisions = promotion.promote(params(["imdb_gru", "imdb_lstm", "sine_lstm"]), store)
    assert [(d.task, d.challenger_experiment) for d in decisions] == [
        ("imdb", "imdb_lstm"),
        ("sine", "sine_lstm"),
    ]
    assert champion("imdb") == best


def test_lower_is_better_tasks(store: Path) -> None:
    evaluated_run("sine", "sine_lstm", 0.0020)
    promotion.promote(params(["sine_lstm"]), store)
    better = evaluated_run("sine", "sine_lstm", 0.0009)
    promotion.promote(params(["sine_lstm"]), store)
    assert champion("sine") == better


def test_champion_scored_on_other_data_is_not_compared(store: Path) -> None:
    evaluated_run("shakespeare", "char", 1.6, eval_data="shakespeare/tail0.1")
    promotion.promote(params(["char"]), store)
    evaluated_run("shakespeare", "char", 1.2, eval_data="shakespeare/tail0.2")
    [decision] = promotion.promote(params(["char"]), store)
    assert not decision.promoted and "different held-out data" in decision.reason
    assert champion("shakespeare") == 1


def test_failure_midway_leaves_every_champion_untouched(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluated_run("imdb", "imdb_lstm", 0.80)
    evaluated_run("sine", "sine_lstm", 0.0020)
    promotion.promote(params(["imdb_lstm", "sine_lstm"]), store)
    evaluated_run("imdb", "imdb_lstm", 0.90)
    evaluated_run("sine", "sine_lstm", 0.0001)
    real = MlflowClient.set_registered_model_alias

    def fail_on_sine(self, name, alias, version):
        if name == "rnnlab-sine":
            raise RuntimeError("registry went away")
        return real(self, name, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", fail_on_sine)
    with pytest.raises(RuntimeError, match="registry went away"):
        promotion.promote(params(["imdb_lstm", "sine_lstm"]), store)
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", real)
    assert (champion("imdb"), champion("sine")) == (1, 1)
