"""Four trainings at once logging to one real MLflow server all finish with full histories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from .conftest import RNNLAB
from .test_resilience import root  # noqa: F401  (fixture: tiny data + conf in a fresh root)
from .test_tracking import mlflow_server  # noqa: F401  (fixture: real server on a free port)

EPOCHS = 3


@pytest.mark.slow
def test_four_concurrent_trainings_log_complete_histories(root: Path, mlflow_server: str) -> None:  # noqa: F811
    env = os.environ | {"RNNLAB_ROOT": str(root), "MLFLOW_TRACKING_URI": mlflow_server}
    names = [f"sine_{i}" for i in range(4)]
    processes = [
        subprocess.Popen(
            [
                RNNLAB,
                "train",
                "experiment=sine_lstm",
                f"name={name}",
                f"trainer.epochs={EPOCHS}",
                "trainer.steps_per_epoch=5",
                "trainer.early_stopping.patience=0",
                f"trainer.seed={i}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, name in enumerate(names)
    ]
    errors = [p.communicate(timeout=600)[1] for p in processes]
    failures = [e[-1500:] for p, e in zip(processes, errors, strict=True) if p.returncode]
    assert not failures, "\n----\n".join(failures)
    mlflow.set_tracking_uri(mlflow_server)
    client = MlflowClient()
    runs = mlflow.search_runs(experiment_names=["sine-regression"], output_format="list")
    assert sorted(r.info.run_name for r in runs) == names
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")]
        assert steps == list(range(EPOCHS))
        assert run.data.params["trainer.epochs"] == str(EPOCHS)
