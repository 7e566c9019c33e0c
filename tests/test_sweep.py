"""`rnnlab train -m`: Hydra multirun with the joblib launcher and the Optuna sweeper, each job
an MLflow run nested under the sweep's parent run; the SLURM launcher config composes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient

from rnnlab.tasks import get_task
from rnnlab.tracking import runs as tracking

from .conftest import REPO

FAST = [
    "trainer.epochs=1",
    "trainer.steps_per_epoch=2",
    "trainer.validation_steps=1",
    "trainer.batch_size=4",
]


@pytest.fixture
def sweep_project(project: Path, tiny_root: Path) -> Path:
    (project / "data").mkdir()
    (project / "data" / "prepared").symlink_to(tiny_root / "data" / "prepared")
    return project


def train_multirun(root: Path, *overrides: str) -> subprocess.CompletedProcess:
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    result = subprocess.run(
        [rnnlab, "train", "-m", *overrides], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def sweep_runs(root: Path) -> tuple[dict, list]:
    mlflow.set_tracking_uri(tracking.tracking_uri(root))
    client = MlflowClient()
    experiment = client.get_experiment_by_name(get_task("imdb").mlflow_experiment)
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("sweep") == "true"]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    return parents[0], children


@pytest.mark.slow  # a Hydra app plus two training processes: ~1 min; the default suite stays < 10 min
def test_joblib_multirun_nests_one_run_per_job_and_leaves_pipeline_outputs(
    sweep_project: Path,
) -> None:
    result = train_multirun(
        sweep_project,
        "experiment=imdb_pool",
        "trainer.learning_rate=0.001,0.003",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *FAST,
    )
    parent, children = sweep_runs(sweep_project)
    assert parent.info.status == "FINISHED" and parent.info.run_id in result.stdout
    assert sorted(r.data.params["trainer.learning_rate"] for r in children) == ["0.001", "0.003"]
    assert sorted(r.info.run_name for r in children) == ["imdb_pool-job0", "imdb_pool-job1"]
    assert all("best_val_accuracy" in r.data.metrics for r in children)
    jobs = sorted((sweep_project / "multirun").glob("*/*/[01]"))
    assert len(jobs) == 2
    for number, job in enumerate(jobs):
        assert (job / "models" / f"imdb_pool-job{number}" / "model.keras").is_file()
    assert not (sweep_project / "models").exists()  # the DVC pipeline's outputs are untouched


@pytest.mark.slow
def test_optuna_sweep_runs_trials_under_one_parent(sweep_project: Path) -> None:
    train_multirun(
        sweep_project,
        "experiment=imdb_lstm",
        "hparams_search=imdb_lstm_optuna",
        "hydra.sweeper.n_trials=2",
        *FAST,
    )
    parent, children = sweep_runs(sweep_project)
    assert len(children) == 2 and parent.info.status == "FINISHED"
    rates = [float(r.data.params["trainer.learning_rate"]) for r in children]
    assert all(1e-4 <= rate <= 3e-3 for rate in rates) and rates[0] != rates[1]
    (results,) = (sweep_project / "multirun").glob("*/*/optimization_results.yaml")
    best = yaml.safe_load(results.read_text())
    assert best["name"] == "optuna" and "trainer.learning_rate" in best["best_params"]
    values = [r.data.metrics["best_val_accuracy"] for r in children]
    assert best["best_value"] == pytest.approx(max(values))


def test_slurm_launcher_config_composes() -> None:
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            ["hydra/launcher=rnnlab_slurm", "experiment=imdb_gru"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.gpus_per_node == 1
    assert launcher.timeout_min == 120 and cfg.name == "imdb_gru"
