"""MLflow logging on tiny data: the embedded sqlite store and a real `mlflow server`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from rnnlab.config.settings import compose_run
from rnnlab.pipeline.evaluate import evaluate
from rnnlab.pipeline.promote import promote
from rnnlab.tracking import runs as tracking
from tests.stages import train

from .conftest import REPO, free_ports

FAST = [
    "trainer.epochs=2",
    "trainer.steps_per_epoch=2",
    "trainer.validation_steps=1",
    "trainer.batch_size=4",
    "trainer.early_stopping.patience=0",
    "trainer.refit=false",  # the refit's own logging is tested in test_refit.py
]
EXPECTED_ARTIFACTS = {
    "config.yaml",
    "model_summary.txt",
    "training/history.csv",
    "training/learning_curves.png",
    "evaluation/confusion_matrix.png",
    "evaluation/roc.png",
    "evaluation/predictions.csv",
}


@pytest.fixture
def fresh_root(tiny_root: Path, tmp_path: Path) -> Path:
    """A project root with the tiny prepared data and an empty tracking store."""
    root = tmp_path / "root"
    shutil.copytree(tiny_root / "data", root / "data")
    return root


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    (port,) = free_ports()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination",
        str(tmp_path / "server-artifacts"),
        "--workers",
        "1",
    ]
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError((tmp_path / "server.log").read_text()) from None
                time.sleep(0.5)
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def check_logged_run(root: Path) -> None:
    cfg = compose_run(["experiment=imdb_gru", *FAST], REPO)
    trained = train(cfg, root)
    results = evaluate(cfg, root)
    client = MlflowClient()
    run = client.get_run(trained["run_id"])

    assert run.info.run_name == "imdb_gru"
    assert client.get_experiment(run.info.experiment_id).name == "imdb-sentiment"
    params = run.data.params
    assert params == tracking.run_params(cfg)
    assert params["model.cell"] == "gru" and params["trainer.early_stopping.patience"] == "0"
    assert params["dataset.max_len"] == "500" and params["model.units"] == "[64]"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [0, 1]
    assert run.data.metrics["test_accuracy"] == pytest.approx(results["test_accuracy"])
    assert results["mlflow_run_id"] == run.info.run_id
    assert {"test_roc_auc", "test_f1", "test_loss", "train_seconds"} <= set(run.data.metrics)
    assert artifact_paths(client, run.info.run_id) == EXPECTED_ARTIFACTS
    tags = run.data.tags
    assert (
        tags["dvc.stage"] == "train@imdb_gru" and tags["dvc.evaluate_stage"] == "evaluate@imdb_gru"
    )
    assert "git.commit" in tags and tags["git.dirty"] in {"True", "False"}
    contexts = {i.dataset.name: i.tags[0].value for i in run.inputs.dataset_inputs}
    assert contexts == {
        f"{cfg.dataset.name}/{s}": c
        for s, c in (("train", "training"), ("val", "validation"), ("test", "test"))
    }

    assert tags["eval.data"] == "aclImdb/test"
    params_file = OmegaConf.create(
        {
            "experiments": {"imdb_gru": cfg},
            "paths": cfg.paths,
            "registry": OmegaConf.load(REPO / "conf/registry/default.yaml"),
        }
    )
    [decision] = promote(params_file, root)
    assert decision.promoted and decision.reason == "no champion yet"
    champion = client.get_model_version_by_alias("rnnlab-imdb", "champion")
    assert champion.run_id == run.info.run_id and int(champion.version) == int(
        tags["registry.version"]
    )
    x = np.load(root / "data" / "prepared" / cfg.dataset.name / "x_test.npy")[:3]
    # The registered model is the raw-text pyfunc wrapper; its Keras model is the trained one.
    reloaded = mlflow.pyfunc.load_model("models:/rnnlab-imdb@champion").unwrap_python_model().model
    original = keras.saving.load_model(trained["model_path"])
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), original.predict(x, verbose=0), atol=1e-6
    )


def test_embedded_store_logs_everything(fresh_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    check_logged_run(fresh_root)
    assert (fresh_root / "mlflow.db").is_file()
    assert any((fresh_root / "mlartifacts").iterdir())


def test_real_server_logs_everything(
    fresh_root: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    check_logged_run(fresh_root)
    assert not (fresh_root / "mlflow.db").exists()


def test_capped_evaluation_is_logged_as_such(
    fresh_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = compose_run(["experiment=imdb_pool", *FAST, "+evaluation.max_examples=6"], REPO)
    trained = train(cfg, fresh_root)
    results = evaluate(cfg, fresh_root)
    assert results["test_examples"] == 6 and np.sum(results["confusion_matrix"]) == 6
    run = MlflowClient().get_run(trained["run_id"])
    assert run.data.tags["eval.data"] == "aclImdb/test/max6"
    assert run.data.params["evaluation.max_examples"] == "6"
    assert run.data.metrics["test_accuracy"] == pytest.approx(results["test_accuracy"])


def test_unreachable_server_fails_before_training(
    fresh_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"http://127.0.0.1:{free_ports()[0]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    cfg = compose_run(["experiment=imdb_gru", *FAST], REPO)
    with pytest.raises(
        tracking.TrackingError, match=f"cannot reach the MLflow tracking server at {uri}"
    ):
        train(cfg, fresh_root)
    assert not (fresh_root / "checkpoints").exists() and not (fresh_root / "models").exists()


def test_cli_reports_unreachable_server(fresh_root: Path) -> None:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_ports()[0]}",
        "RNNLAB_ROOT": str(REPO),
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "rnnlab"),
            "train",
            "experiment=imdb_gru",
            "paths.models=" + str(fresh_root / "models"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 2
    assert "cannot reach the MLflow tracking server" in result.stderr
    assert "Nothing was trained" in result.stderr


@pytest.mark.parametrize(
    ("challenger", "champion", "task", "margin", "expected"),
    [
        (0.90, None, "imdb", 0.0, True),
        (0.90, 0.89, "imdb", 0.0, True),
        (0.89, 0.90, "imdb", 0.0, False),
        (0.895, 0.89, "imdb", 0.01, False),
        (1.40, 1.50, "shakespeare", 0.0, True),
        (1.50, 1.40, "shakespeare", 0.0, False),
    ],
)
def test_should_promote(challenger, champion, task, margin, expected) -> None:
    from rnnlab.pipeline.promote import should_promote
    from rnnlab.tasks import get_task

    assert should_promote(get_task(task), challenger, champion, margin) is expected


@pytest.mark.parametrize(
    ("root", "home"),
    [
        ("/repo", "/repo"),
        ("/repo/.dvc/tmp/exps/tmpab12cd", "/repo"),  # dvc exp run --temp
        ("/repo/.dvc/tmp/exps/standalone/tmpab12cd", "/repo"),  # dvc queue workers
    ],
)
def test_store_resolves_to_the_real_repo_from_dvc_temp_copies(
    root: str, home: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.project_home(Path(root)) == Path(home)
    assert tracking.tracking_uri(Path(root)) == f"sqlite:///{home}/mlflow.db"
