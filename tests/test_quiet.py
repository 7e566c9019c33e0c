"""Quiet by default: a stage says what it does, what came out and how long it took; the
libraries' chatter (TensorFlow's start-up, MLflow's database migrations, gensim's
lifecycle lines) shows with -v only. MLflow's dataset-source warning is gone for good: its
cause is fixed (tracking.runs.local_source)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import RNNLAB, rnnlab_env, training_root

SINE = [
    "experiment=sine_lstm",
    "trainer.epochs=2",
    "trainer.steps_per_epoch=2",
    "trainer.batch_size=64",
]
# On every x86 CPU (oneDNN's notices show on some CPUs only, e.g. not on an AMD EPYC).
TENSORFLOW = ("absl::InitializeLog", "cpu_feature_guard")
MIGRATIONS = "Creating initial MLflow database tables"
DATASET_WARNING = "can be interpreted in multiple ways"
GENSIM = "gensim.models.word2vec"


@pytest.fixture
def root(tiny_root: Path, tmp_path: Path) -> Path:
    return training_root(tiny_root, tmp_path / "root")


def rnnlab(root: Path, *args: str, stage: str) -> str:
    """Output (stdout and stderr) of a command run as DVC runs a stage's."""
    result = subprocess.run(
        [RNNLAB, *args],
        env=rnnlab_env(root, DVC_STAGE=stage),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def test_a_stage_says_what_it_does_and_the_libraries_say_nothing(root: Path) -> None:
    out = rnnlab(root, "train", *SINE, stage="train@sine_lstm")  # a new MLflow store
    assert "train@sine_lstm: train one experiment" in out
    assert "train@sine_lstm epoch 2/2 loss=" in out  # its progress
    assert "saved " in out and "after 2 epochs" in out  # what came out
    assert "train@sine_lstm: done in " in out  # how long it took
    assert not [line for line in out.splitlines() if any(t in line for t in TENSORFLOW)]
    assert MIGRATIONS not in out and DATASET_WARNING not in out
    assert len(out.splitlines()) <= 12, out

    (root / "mlflow.db").unlink()  # migrations again, this time shown
    verbose = rnnlab(root, "-v", "train", *SINE, stage="train@sine_lstm")
    assert all(t in verbose for t in TENSORFLOW) and MIGRATIONS in verbose
    assert DATASET_WARNING not in verbose


@pytest.mark.slow
def test_word_vectors_are_trained_without_gensims_lifecycle_lines(root: Path) -> None:
    prepare = ["prepare", "dataset=imdb_v30k_len500_w2v"]
    out = rnnlab(root, *prepare, stage="prepare_imdb@v30k_len500_w2v")
    assert "prepared " in out and GENSIM not in out
    verbose = rnnlab(root, "-v", *prepare, stage="prepare_imdb@v30k_len500_w2v")
    assert GENSIM in verbose
