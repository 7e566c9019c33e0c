"""trainer.strategy: tf.distribute's default, mirrored and multi-worker strategies.

The multi-worker test is real: two `rnnlab train` processes on this machine form a
MultiWorkerMirroredStrategy cluster over 127.0.0.1 (TF_CONFIG, free ports) and train one
experiment together; the result is compared with a single-process run of the same config.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from rnnlab.config.settings import compose_run
from rnnlab.data.splits import input_layout
from rnnlab.errors import ConfigError
from rnnlab.tasks import load_prepared as load_splits
from rnnlab.training.fit import fit
from rnnlab.training.strategy import check_tf_config, make_strategy

from .conftest import REPO, RNNLAB, free_ports, rnnlab_env, training_root

# No dropout, no early stopping: the two runs take the same optimisation steps, so they may
# only differ by the order of floating-point sums in the cross-worker all-reduce.
SINE = [
    "experiment=sine_lstm",
    "trainer.epochs=2",
    "trainer.steps_per_epoch=12",
    "trainer.validation_steps=2",
    "trainer.batch_size=64",
    "trainer.lr_schedule=constant",
    "trainer.early_stopping.patience=0",
]
# Measured: the 2-worker losses equal the single-process ones to ~1e-7 relative.
MULTI_WORKER_RTOL = 1e-4


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{p}" for p in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def history(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "plots" / "sine_lstm" / "history.csv")


def test_two_workers_train_one_experiment_like_a_single_process(
    tiny_root: Path, tmp_path: Path
) -> None:
    single = training_root(tiny_root, tmp_path / "single")
    done = subprocess.run(
        [RNNLAB, "train", *SINE], env=rnnlab_env(single), check=True, capture_output=True, text=True
    )
    assert "sine_lstm/model.keras after 2 epochs" in done.stdout

    cluster = training_root(tiny_root, tmp_path / "cluster")
    ports = free_ports(2)
    workers = [
        subprocess.Popen(
            [RNNLAB, "train", *SINE, "trainer.strategy=multi_worker"],
            env=rnnlab_env(cluster, TF_CONFIG=tf_config(ports, index)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(2)
    ]
    outputs = [w.communicate(timeout=400)[0] for w in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]
    assert "worker worker-1 of sine_lstm done: {'seconds'" in outputs[1]
    assert "'epochs': 2," in outputs[1]

    together, alone = history(cluster), history(single)
    assert list(together["epoch"]) == [0, 1]
    for column in ("loss", "val_loss", "rmse", "val_rmse"):
        assert together[column].tolist() == pytest.approx(
            alone[column].tolist(), rel=MULTI_WORKER_RTOL
        ), column
    assert (cluster / "models" / "sine_lstm" / "model.keras").is_file()
    assert not list((cluster / "checkpoints").glob("sine_lstm*"))  # chief's and worker's

    mlflow.set_tracking_uri(f"sqlite:///{cluster / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["sine-regression"], output_format="list")
    assert len(runs) == 1  # only the chief logs
    run = runs[0]
    assert run.data.params["trainer.strategy"] == "multi_worker"
    # MultiWorkerMirroredStrategy is an alias of this class.
    assert run.data.tags["distribute.strategy"] == "CollectiveAllReduceStrategy"
    assert run.data.tags["distribute.workers"] == "2"
    assert run.data.tags["distribute.replicas"] == "2"
    assert run.data.metrics["val_loss"] == pytest.approx(together["val_loss"].iloc[-1], rel=1e-6)


def test_mirrored_strategy_trains_like_the_default_one(tiny_root: Path, tmp_path: Path) -> None:
    cfg = compose_run(SINE, REPO)
    splits = load_splits(tiny_root / "data" / "prepared" / cfg.dataset.name, input_layout(cfg))
    _, default_history, _ = fit(
        cfg, splits, tmp_path / "default", strategy=make_strategy("default")
    )
    model, mirrored_history, _ = fit(
        cfg, splits, tmp_path / "mirrored", strategy=make_strategy("mirrored")
    )
    assert model.distribute_strategy.__class__.__name__ == "MirroredStrategy"
    assert mirrored_history["val_loss"].tolist() == pytest.approx(
        default_history["val_loss"].tolist(), rel=MULTI_WORKER_RTOL
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "trainer.strategy=multi_worker needs TF_CONFIG; set TF_CONFIG on every worker"),
        ("{not json", "TF_CONFIG is not a valid cluster spec"),
        ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "lists no workers"),
        ('{"cluster": {"worker": ["a:1"]}}', "TF_CONFIG is not a valid cluster spec"),
    ],
)
def test_multi_worker_without_a_cluster_spec_is_a_clear_error(raw: str | None, message: str):
    with pytest.raises(ConfigError, match=message):
        check_tf_config(raw)


def test_cli_multi_worker_without_tf_config_fails_before_training(
    tiny_root: Path, tmp_path: Path
) -> None:
    root = training_root(tiny_root, tmp_path / "root")
    result = subprocess.run(
        [RNNLAB, "train", *SINE, "trainer.strategy=multi_worker"],
        env=rnnlab_env(root),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "needs TF_CONFIG" in result.stderr
    assert not (root / "models").exists() and not (root / "mlflow.db").exists()


def test_one_process_keeps_one_thread_count() -> None:
    """TensorFlow fixes its thread pools when it starts; a later experiment in the same
    process with another trainer.threads keeps the running count and says so."""
    code = (
        "import logging, tensorflow as tf\n"
        "logging.basicConfig()\n"
        "from rnnlab.training.strategy import use_threads\n"
        "use_threads(1)\n"
        "tf.constant(1.0) + 1\n"
        "use_threads(1)\n"
        "use_threads(2)\n"
        "assert tf.config.threading.get_intra_op_parallelism_threads() == 1\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "trainer.threads=2 not applied: TensorFlow in this process already runs with 1" in (
        result.stderr
    )
