"""trainer.refit: the validation run picks the epochs, a fresh model trains on train+val."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from rnnlab.config.settings import compose_run
from rnnlab.tasks import load_prepared as load_splits
from rnnlab.training.experiment import validate_experiment
from rnnlab.training.fit import (
    FINGERPRINT_FILE,
    SELECTED_FILE,
    best_epoch_count,
    fit,
    fit_to_keep,
    input_layout,
    make_optimizer,
    start_fresh_if_not_resuming,
    train,
    training_fingerprint,
)

from .conftest import REPO, training_root

POOL = [
    "experiment=imdb_pool",
    "trainer.batch_size=8",
    "trainer.epochs=3",
    "trainer.early_stopping.patience=0",
    "trainer.refit=true",
    "trainer.refit_epochs=null",  # the validation run chooses (imdb_pool's config gives 3)
]


class Recorder(keras.callbacks.Callback):
    """What each fit phase was given: its batches per epoch and the epochs it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: int | None = None
        self.epochs: list[int] = []

    def on_train_begin(self, logs=None) -> None:
        self.steps = self.params["steps"]

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.epochs.append(epoch)


class LearningRates(Recorder):
    """The optimizer's learning rate at the end of each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        super().on_epoch_end(epoch, logs)
        self.rates.append(float(self.model.optimizer.learning_rate))


class Interrupt(Recorder):
    """Stops the run as a kill would once the first epoch is recorded and backed up (the
    backup is the last thing an epoch writes, so the kill lands as the second one starts)."""

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if epoch > 0:
            raise KeyboardInterrupt


def history(**columns: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(len(next(iter(columns.values())))), **columns})


def trainer(monitor: str = "val_loss", patience: int = 2, restore: bool = True):
    return compose_run(
        [
            "experiment=imdb_pool",
            f"trainer.early_stopping.monitor={monitor}",
            f"trainer.early_stopping.patience={patience}",
            f"trainer.early_stopping.restore_best_weights={restore}",
        ],
        REPO,
    ).trainer


def test_best_epoch_count_follows_what_early_stopping_restores() -> None:
    losses = history(val_loss=[0.6, 0.4, 0.45, 0.5], val_accuracy=[0.6, 0.7, 0.8, 0.75])
    assert best_epoch_count(losses, trainer()) == 2
    assert best_epoch_count(losses, trainer(monitor="val_accuracy")) == 3  # maximised
    assert best_epoch_count(losses, trainer(patience=0)) == 4  # no early stopping: all
    assert best_epoch_count(losses, trainer(restore=False)) == 4  # last weights are kept


def splits_and_config(tiny_root: Path, overrides: list[str]):
    cfg = validate_experiment(compose_run(overrides, REPO))
    folder = tiny_root / "data" / "prepared" / cfg.dataset.name
    return cfg, load_splits(folder, input_layout(cfg))


def test_refit_trains_a_fresh_model_on_train_and_val(tiny_root: Path, tmp_path: Path) -> None:
    cfg, splits = splits_and_config(tiny_root, POOL)
    n_train, n_val = len(splits.arrays["train"][0]), len(splits.arrays["val"][0])
    phases = {"": Recorder(), "refit_": Recorder()}
    fitted = fit_to_keep(cfg, splits, tmp_path / "ckpt", lambda p: [phases[p]], None)

    assert phases[""].steps == -(-n_train // 8)
    assert phases["refit_"].steps == -(-(n_train + n_val) // 8)  # every labelled review
    assert phases["refit_"].epochs == [0, 1, 2]  # patience 0: all epochs of the selection
    assert list(fitted.refit_history["epoch"]) == [0, 1, 2]
    assert "val_loss" in fitted.history and "val_loss" not in fitted.refit_history
    info = fitted.info()
    assert info["epochs"] == 3 and info["refit_epochs"] == 3
    assert info["seconds"] == pytest.approx(fitted.seconds + fitted.refit_seconds, abs=0.1)


def test_refit_keeps_the_selection_runs_learning_rate_schedule(
    tiny_root: Path, tmp_path: Path
) -> None:
    """Validation chose 1 of 4 planned epochs on a cosine schedule; the refit stops there on
    that schedule (rate 0.854 of the peak after 1/4 of it), not on a cosine over 1 epoch (0)."""
    cfg, splits = splits_and_config(
        tiny_root, [*POOL, "trainer.epochs=4", "trainer.lr_schedule=cosine"]
    )
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    history(val_loss=[0.5, 0.6]).to_csv(checkpoint / "history.csv", index=False)
    (checkpoint / SELECTED_FILE).write_text(json.dumps({"epochs": 1, "seconds": 1.0}))
    rates = LearningRates()
    fit_to_keep(cfg, splits, checkpoint, lambda p: [rates] if p else [], None)

    peak = cfg.trainer.learning_rate
    assert rates.epochs == [0]
    assert rates.rates == [pytest.approx(peak * 0.5 * (1 + math.cos(math.pi / 4)), rel=1e-4)]


class AveragedWeights(keras.callbacks.Callback):
    """At each epoch's end: the largest gap between the weights and their moving average."""

    def __init__(self) -> None:
        super().__init__()
        self.gaps: list[float] = []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        averages = self.model.optimizer._model_variables_moving_average
        pairs = zip(self.model.trainable_weights, averages, strict=True)
        self.gaps.append(max(float(abs(w.numpy() - a.numpy()).max()) for w, a in pairs))


def test_weight_averaging_hands_validation_the_averaged_weights(
    tiny_root: Path, tmp_path: Path
) -> None:
    overrides = [*POOL, "trainer.refit=false", "trainer.epochs=2", "trainer.ema=0.9"]
    cfg, splits = splits_and_config(tiny_root, overrides)
    averaged = AveragedWeights()
    model, history, _ = fit(cfg, splits, tmp_path / "ckpt", [averaged])
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == 0.9
    # Written into the weights at the epoch's last step, so the epoch's validation used them.
    assert averaged.gaps == [0.0, 0.0]
    assert len(history) == 2 and history["val_loss"].notna().all()
    plain, _ = splits_and_config(tiny_root, POOL)
    assert not make_optimizer(plain.trainer, 10, 5).use_ema  # off unless asked for


def test_interrupted_refit_resumes_without_repeating_the_selection(
    tiny_root: Path, tmp_path: Path
) -> None:
    cfg, splits = splits_and_config(tiny_root, POOL)
    checkpoint = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        fit_to_keep(cfg, splits, checkpoint, lambda p: [Interrupt() if p else Recorder()], None)
    assert json.loads((checkpoint / SELECTED_FILE).read_text())["epochs"] == 3
    assert (checkpoint / "refit" / "backup").exists()

    phases = {"": Recorder(), "refit_": Recorder()}
    fitted = fit_to_keep(cfg, splits, checkpoint, lambda p: [phases[p]], None)
    assert phases[""].steps is None  # the selection run was not repeated
    assert phases["refit_"].epochs == [1, 2]  # the refit continued after its first epoch
    assert list(fitted.history["epoch"]) == [0, 1, 2]
    assert list(fitted.refit_history["epoch"]) == [0, 1, 2]


def test_train_keeps_the_refit_model_and_logs_both_phases(tiny_root: Path, tmp_path: Path) -> None:
    root = training_root(tiny_root, tmp_path / "root")
    cfg = validate_experiment(compose_run([*POOL, "trainer.early_stopping.patience=1"], REPO))
    result = train(cfg, root)

    selected = pd.read_csv(root / "plots" / "imdb_pool" / "history.csv")
    refit = pd.read_csv(root / "models" / "imdb_pool" / "refit_history.csv")
    epochs = best_epoch_count(selected, cfg.trainer)
    assert len(refit) == epochs and result["refit_history"].equals(refit)
    assert result["kept_epochs"] == epochs  # the refit's, not the validation run's
    info = json.loads((root / "models" / "imdb_pool" / "train_info.json").read_text())
    assert info["epochs"] == len(selected) and info["refit_epochs"] == epochs

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    run = client.get_run(result["run_id"])
    assert run.data.params["trainer.refit"] == "True"
    assert run.data.metrics["refit_epochs"] == epochs
    assert [m.step for m in client.get_metric_history(run.info.run_id, "refit_loss")] == list(
        range(epochs)
    )
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == len(selected)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "training")}
    assert "training/refit_history.csv" in artifacts
    assert not (root / "checkpoints" / "imdb_pool").exists()
    mlflow.set_tracking_uri(None)


def test_given_refit_epochs_skip_the_validation_run_and_keep_the_same_model(
    tiny_root: Path, tmp_path: Path
) -> None:
    """The refit is seeded on its own, so epochs chosen by an earlier validation run give the
    model this run's own choice would (what lets the pipeline skip that run)."""
    cfg, splits = splits_and_config(tiny_root, [*POOL, "trainer.lr_schedule=cosine"])
    chosen = fit_to_keep(cfg, splits, tmp_path / "chosen", lambda p: [], None)
    given_cfg, _ = splits_and_config(
        tiny_root, [*POOL, "trainer.lr_schedule=cosine", "trainer.refit_epochs=3"]
    )
    phases = {"": Recorder(), "refit_": Recorder()}
    given = fit_to_keep(given_cfg, splits, tmp_path / "given", lambda p: [phases[p]], None)

    assert phases[""].steps is None and phases["refit_"].epochs == [0, 1, 2]
    assert given.history is None and given.curves.equals(given.refit_history)
    assert given.info()["epochs"] == 0 and given.info()["refit_epochs"] == 3
    for ours, theirs in zip(given.model.get_weights(), chosen.model.get_weights(), strict=True):
        assert (ours == theirs).all()


def test_train_with_given_refit_epochs_logs_only_the_refit(tiny_root: Path, tmp_path: Path) -> None:
    root = training_root(tiny_root, tmp_path / "root")
    cfg = validate_experiment(compose_run([*POOL, "trainer.refit_epochs=2"], REPO))
    result = train(cfg, root)

    curves = pd.read_csv(root / "plots" / "imdb_pool" / "history.csv")
    assert list(curves["epoch"]) == [0, 1] and "val_loss" not in curves  # the refit's
    assert result["history"] is None and len(result["refit_history"]) == 2
    assert result["kept_epochs"] == 2
    run = MlflowClient(f"sqlite:///{root / 'mlflow.db'}").get_run(result["run_id"])
    assert run.data.params["trainer.refit_epochs"] == "2"
    assert run.data.params["trainer.threads"] == "1"
    assert run.data.metrics["refit_epochs"] == 2 and run.data.metrics["epochs_trained"] == 0
    assert "val_loss" not in run.data.metrics and "refit_loss" in run.data.metrics
    mlflow.set_tracking_uri(None)


def test_refit_epochs_are_capped_by_the_epochs_and_at_least_one() -> None:
    from rnnlab.errors import ConfigError

    # Fewer epochs (an override, `dvc exp run -S`, a profile) cap the given ones.
    assert (
        validate_experiment(
            compose_run([*POOL, "trainer.refit_epochs=4"], REPO)
        ).trainer.refit_epochs
        == 3
    )
    with pytest.raises(ConfigError, match="refit_epochs=0 must be at least 1"):
        validate_experiment(compose_run([*POOL, "trainer.refit_epochs=0"], REPO))
    # Without a refit the setting is unused: turning the refit off needs no second change.
    assert validate_experiment(
        compose_run([*POOL, "trainer.refit=false", "trainer.refit_epochs=9"], REPO)
    )


def interrupted_refit(cfg, splits, checkpoint: Path) -> None:
    """A checkpoint as a kill during the refit leaves it: selection done, refit backed up."""
    with pytest.raises(KeyboardInterrupt):
        fit_to_keep(cfg, splits, checkpoint, lambda p: [Interrupt() if p else Recorder()], None)


def test_a_checkpoint_resumes_only_under_the_settings_it_was_trained_with(
    tiny_root: Path, tmp_path: Path
) -> None:
    cfg, splits = splits_and_config(tiny_root, POOL)
    checkpoint = tmp_path / "ckpt"
    interrupted_refit(cfg, splits, checkpoint)

    start_fresh_if_not_resuming(checkpoint, cfg)  # same settings: kept for resuming
    assert (checkpoint / SELECTED_FILE).is_file() and (checkpoint / "refit" / "backup").exists()

    stamp = json.loads((checkpoint / FINGERPRINT_FILE).read_text())
    assert stamp == {"fingerprint": training_fingerprint(cfg)}
    (checkpoint / FINGERPRINT_FILE).unlink()  # written before checkpoints were stamped
    start_fresh_if_not_resuming(checkpoint, cfg)
    assert not checkpoint.exists()


def test_settings_changed_after_a_kill_retrain_from_scratch(
    tiny_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = training_root(tiny_root, tmp_path / "root")
    cfg, splits = splits_and_config(tiny_root, POOL)
    interrupted_refit(cfg, splits, root / "checkpoints" / "imdb_pool")
    changed = validate_experiment(compose_run([*POOL, "trainer.epochs=2"], REPO))
    assert training_fingerprint(changed) != training_fingerprint(cfg)

    result = train(changed, root)
    # Resumed, the old selection (3 epochs) would have been kept and its refit continued.
    info = json.loads((root / "models" / "imdb_pool" / "train_info.json").read_text())
    assert info["epochs"] == 2 and info["refit_epochs"] == 2
    assert list(result["history"]["epoch"]) == [0, 1]
    assert "trained with other settings; starting afresh" in caplog.text
    run = MlflowClient(f"sqlite:///{root / 'mlflow.db'}").get_run(result["run_id"])
    assert run.data.params["trainer.epochs"] == "2"
    mlflow.set_tracking_uri(None)


@pytest.mark.parametrize(
    ("epochs", "refit", "label"),
    [(5, None, "5"), (6, 3, "6 + 3 refit"), (0, 3, "3 refit (given)")],
)
def test_leaderboard_says_how_each_model_was_trained(epochs, refit, label) -> None:
    from rnnlab.pipeline.compare import epochs_label

    assert epochs_label(pd.Series({"epochs": epochs, "refit_epochs": refit})) == label
