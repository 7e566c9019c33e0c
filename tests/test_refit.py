"""trainer.refit: the validation run picks the epochs, a fresh model trains on train+val."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from rnnlab.config.settings import compose_run
from rnnlab.data.splits import input_layout
from rnnlab.pipeline.select import read_selection
from rnnlab.tasks import load_prepared as load_splits
from rnnlab.training.checkpoints import (
    FINGERPRINT_FILE,
    start_fresh_if_not_resuming,
    training_fingerprint,
)
from rnnlab.training.experiment import validate_experiment
from rnnlab.training.fit import fit, make_optimizer
from rnnlab.training.selection import Selection, best_epoch_count, fit_to_keep, select

from .conftest import REPO, training_root
from .stages import train

POOL = [
    "experiment=imdb_pool",
    "trainer.batch_size=8",
    "trainer.epochs=3",
    "trainer.early_stopping.patience=0",
    "trainer.refit=true",
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


def chosen(epochs: int, **more) -> Selection:
    return Selection(refit=True, epochs=epochs, monitor="val_loss", best=0.5, **more)


def test_selection_runs_on_the_training_split_and_records_the_best_epoch(
    tiny_root: Path, tmp_path: Path
) -> None:
    cfg, splits = splits_and_config(tiny_root, [*POOL, "trainer.early_stopping.patience=1"])
    recorder = Recorder()
    selection = select(cfg, splits, tmp_path / "ckpt", [recorder], None)

    assert recorder.steps == -(-len(splits.arrays["train"][0]) // 8)
    ran = pd.DataFrame(selection.history)
    assert selection.refit and selection.epochs == best_epoch_count(ran, cfg.trainer)
    assert selection.best == pytest.approx(ran["val_loss"].iloc[selection.epochs - 1])
    assert selection.seconds > 0 and "val_loss" in ran
    # Each validation review's P(positive) under the chosen epoch's weights (what an
    # ensemble's weights are fitted on): they give that epoch's validation figures.
    outputs, labels = np.array(selection.validation_outputs), splits.arrays["val"][1]
    assert len(outputs) == len(labels) and ((outputs >= 0) & (outputs <= 1)).all()
    chosen_epoch = ran.iloc[selection.epochs - 1]
    assert ((outputs >= 0.5) == labels).mean() == pytest.approx(chosen_epoch["val_accuracy"])
    loss = keras.losses.binary_crossentropy(labels[:, None].astype("float32"), outputs[:, None])
    assert float(np.mean(loss)) == pytest.approx(chosen_epoch["val_loss"], abs=1e-4)
    # No refit: nothing to choose, no training.
    plain, _ = splits_and_config(tiny_root, [*POOL, "trainer.refit=false"])
    assert select(plain, splits, tmp_path / "none", [], None) == Selection(refit=False)


def test_refit_trains_a_fresh_model_on_train_and_val(tiny_root: Path, tmp_path: Path) -> None:
    cfg, splits = splits_and_config(tiny_root, POOL)
    n_train, n_val = len(splits.arrays["train"][0]), len(splits.arrays["val"][0])
    recorder = Recorder()
    fitted = fit_to_keep(cfg, splits, chosen(2, seconds=4.0), tmp_path / "ckpt", [recorder], None)

    assert recorder.steps == -(-(n_train + n_val) // 8)  # every labelled review
    assert recorder.epochs == [0, 1]  # the selected epochs, patience 0
    assert list(fitted.history["epoch"]) == [0, 1] and "val_loss" not in fitted.history
    info = fitted.info()
    assert info["refit_epochs"] == 2 and info["seconds"] == pytest.approx(
        4.0 + fitted.seconds, abs=0.1
    )


def test_refit_keeps_the_selection_runs_learning_rate_schedule(
    tiny_root: Path, tmp_path: Path
) -> None:
    """Validation chose 1 of 4 planned epochs on a cosine schedule; the refit stops there on
    that schedule (rate 0.854 of the peak after 1/4 of it), not on a cosine over 1 epoch (0)."""
    cfg, splits = splits_and_config(
        tiny_root, [*POOL, "trainer.epochs=4", "trainer.lr_schedule=cosine"]
    )
    rates = LearningRates()
    fit_to_keep(cfg, splits, chosen(1), tmp_path / "ckpt", [rates], None)

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


def test_interrupted_refit_resumes_from_its_last_epoch(tiny_root: Path, tmp_path: Path) -> None:
    cfg, splits = splits_and_config(tiny_root, POOL)
    checkpoint = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        fit_to_keep(cfg, splits, chosen(3), checkpoint, [Interrupt()], None)
    assert (checkpoint / "backup").exists()

    recorder = Recorder()
    fitted = fit_to_keep(cfg, splits, chosen(3), checkpoint, [recorder], None)
    assert recorder.epochs == [1, 2]  # the refit continued after its first epoch
    assert list(fitted.history["epoch"]) == [0, 1, 2]


def test_pipeline_stages_select_then_refit_and_log_both_phases(
    tiny_root: Path, tmp_path: Path
) -> None:
    root = training_root(tiny_root, tmp_path / "root")
    cfg = validate_experiment(compose_run([*POOL, "trainer.early_stopping.patience=1"], REPO))
    result = train(cfg, root)

    selection = read_selection(root / "selection" / "imdb_pool.json")
    validation = pd.DataFrame(selection.history)
    epochs = best_epoch_count(validation, cfg.trainer)
    assert selection.refit and selection.epochs == epochs
    kept = pd.read_csv(root / "plots" / "imdb_pool" / "history.csv")
    assert len(kept) == epochs and "val_loss" not in kept  # the refit's own epochs
    assert result["kept_epochs"] == epochs
    info = json.loads((root / "models" / "imdb_pool" / "train_info.json").read_text())
    assert info["epochs"] == len(validation) and info["refit_epochs"] == epochs

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    run = client.get_run(result["run_id"])
    assert run.data.params["trainer.refit"] == "True"
    assert run.data.metrics["refit_epochs"] == epochs
    assert [m.step for m in client.get_metric_history(run.info.run_id, "refit_loss")] == list(
        range(epochs)
    )
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == len(validation)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "training")}
    assert {"training/history.csv", "training/learning_curves.png"} <= artifacts
    assert not (root / "checkpoints" / "imdb_pool").exists()
    mlflow.set_tracking_uri(None)


def test_train_refits_for_the_epochs_the_selection_record_gives(
    tiny_root: Path, tmp_path: Path
) -> None:
    """The refit's epochs come from the select stage's output (a DVC dependency of train),
    never from conf/: train reads them from selection/<experiment>.json."""
    from rnnlab.io import write_json
    from rnnlab.pipeline.train import train as train_stage

    root = training_root(tiny_root, tmp_path / "root")
    cfg = validate_experiment(compose_run(POOL, REPO))
    write_json(root / "selection" / "imdb_pool.json", chosen(2).to_dict())
    result = train_stage(cfg, root)
    assert result["kept_epochs"] == 2
    assert list(pd.read_csv(root / "plots" / "imdb_pool" / "history.csv")["epoch"]) == [0, 1]
    mlflow.set_tracking_uri(None)


def test_train_without_a_selection_record_says_which_stage_to_run(
    tiny_root: Path, tmp_path: Path
) -> None:
    from rnnlab.errors import DataError
    from rnnlab.pipeline.train import train as train_stage

    root = training_root(tiny_root, tmp_path / "root")
    cfg = validate_experiment(compose_run(POOL, REPO))
    with pytest.raises(DataError, match=r"imdb_pool.json is missing: run the select stage"):
        train_stage(cfg, root)


def interrupted_refit(cfg, splits, checkpoint: Path) -> None:
    """A checkpoint as a kill during the refit leaves it: stamped, backed up."""
    start_fresh_if_not_resuming(checkpoint, cfg)
    with pytest.raises(KeyboardInterrupt):
        fit_to_keep(cfg, splits, chosen(3), checkpoint, [Interrupt()], None)


def test_a_checkpoint_resumes_only_under_the_settings_it_was_trained_with(
    tiny_root: Path, tmp_path: Path
) -> None:
    cfg, splits = splits_and_config(tiny_root, POOL)
    checkpoint = tmp_path / "ckpt"
    interrupted_refit(cfg, splits, checkpoint)

    start_fresh_if_not_resuming(checkpoint, cfg)  # same settings: kept for resuming
    assert (checkpoint / "backup").exists()

    stamp = json.loads((checkpoint / FINGERPRINT_FILE).read_text())
    assert stamp == {"fingerprint": training_fingerprint(cfg)}
    (checkpoint / FINGERPRINT_FILE).unlink()  # an unstamped backup belongs to another run
    start_fresh_if_not_resuming(checkpoint, cfg)
    assert not (checkpoint / "backup").exists()  # dropped, the folder stamped afresh
    assert json.loads((checkpoint / FINGERPRINT_FILE).read_text()) == stamp


def test_settings_changed_after_a_kill_retrain_from_scratch(
    tiny_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = training_root(tiny_root, tmp_path / "root")
    cfg, splits = splits_and_config(tiny_root, POOL)
    interrupted_refit(cfg, splits, root / "checkpoints" / "imdb_pool" / "train")
    changed = validate_experiment(compose_run([*POOL, "trainer.epochs=2"], REPO))
    assert training_fingerprint(changed) != training_fingerprint(cfg)

    result = train(changed, root)
    # Resumed, the old refit (3 epochs, 1 done) would have been continued.
    info = json.loads((root / "models" / "imdb_pool" / "train_info.json").read_text())
    assert info["epochs"] == 2 and info["refit_epochs"] == 2
    assert list(result["history"]["epoch"]) == [0, 1]
    assert "trained with other settings; starting afresh" in caplog.text
    run = MlflowClient(f"sqlite:///{root / 'mlflow.db'}").get_run(result["run_id"])
    assert run.data.params["trainer.epochs"] == "2"
    mlflow.set_tracking_uri(None)


@pytest.mark.parametrize(
    ("epochs", "refit", "label"),
    [(5, None, "5"), (6, 3, "6 + 3 refit")],
)
def test_leaderboard_says_how_each_model_was_trained(epochs, refit, label) -> None:
    from rnnlab.pipeline.compare import epochs_label

    assert epochs_label(pd.Series({"epochs": epochs, "refit_epochs": refit})) == label
