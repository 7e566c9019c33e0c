"""train(cfg): build the model from config, fit with validation, save model.keras.

With `trainer.refit: true` the validation run only chooses the number of epochs (the best
epoch of early stopping); a fresh model is then trained on train+val for that many epochs
and kept, as the published IMDB baselines train on all 25,000 training reviews. With
`trainer.refit_epochs` set, that count was chosen on validation beforehand (the experiment's
config says where), so the validation run is skipped and only the refit trains.

Resumable: keras.callbacks.BackupAndRestore keeps the last completed epoch in
`checkpoints/<experiment>/` (outside DVC outputs, which DVC clears before a stage runs), so
a killed run continues from there on the next `dvc repro` / `rnnlab train`; a finished
selection run is remembered there too (`selected.json`), so only the refit resumes. The
checkpoint is stamped with its settings (`fingerprint.json`); a changed config starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from rnnlab.datasets import Splits, batch_count, load_splits, to_dataset
from rnnlab.distribute import is_chief, make_strategy, shard_by_batch, use_threads, worker_label
from rnnlab.errors import ConfigError
from rnnlab.io import atomic_dir, read_json, write_json
from rnnlab.models import build_model
from rnnlab.models.builders import adapt_to_training_data
from rnnlab.settings import resolve_path

log = logging.getLogger(__name__)
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
REFIT_HISTORY_FILE = "refit_history.csv"
SELECTED_FILE = "selected.json"  # the finished selection run of a refit, kept for resuming
FINGERPRINT_FILE = "fingerprint.json"  # the settings a checkpoint was trained with
FINGERPRINTED = ("dataset", "model", "trainer")
OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "sgd": keras.optimizers.SGD,
}


def experiment_paths(cfg: DictConfig, root: Path) -> dict[str, Path]:
    name = cfg.name
    return {
        "data": resolve_path(cfg.paths.prepared, root) / cfg.dataset.name,
        "model_dir": resolve_path(cfg.paths.models, root) / name,
        "checkpoint": resolve_path(cfg.paths.checkpoints, root) / name,
        "plots": resolve_path(cfg.paths.plots, root) / name,
        "metrics": resolve_path(cfg.paths.metrics, root) / f"{name}.json",
    }


def input_layout(cfg: DictConfig) -> str:
    return cfg.model.get("input_layout", "steps")


def loss_and_metrics(task: str) -> tuple[keras.losses.Loss, list]:
    if task == "imdb":
        return keras.losses.BinaryCrossentropy(), ["accuracy"]
    if task == "shakespeare":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), []
    return keras.losses.MeanSquaredError(), [keras.metrics.RootMeanSquaredError(name="rmse")]


def make_optimizer(
    trainer: DictConfig, total_steps: int, epoch_steps: int
) -> keras.optimizers.Optimizer:
    if trainer.optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"trainer.optimizer={trainer.optimizer!r} is unknown; allowed: {sorted(OPTIMIZERS)}"
        )
    rate = trainer.learning_rate
    if trainer.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(total_steps, 1))
    elif trainer.lr_schedule != "constant":
        raise ConfigError(
            f"trainer.lr_schedule={trainer.lr_schedule!r} is unknown; allowed: constant, cosine"
        )
    kwargs = {"clipnorm": trainer.clipnorm} if trainer.get("clipnorm") else {}
    if trainer.get("weight_decay"):
        kwargs["weight_decay"] = trainer.weight_decay  # decoupled (AdamW-style) decay
    if trainer.get("ema"):
        # Written into the weights at each epoch's end, so validation (and early stopping,
        # and the refit's last epoch) judges the averaged weights, not the last step's.
        kwargs.update(use_ema=True, ema_momentum=trainer.ema, ema_overwrite_frequency=epoch_steps)
    return OPTIMIZERS[trainer.optimizer](learning_rate=rate, **kwargs)


def steps_per_epoch(n: int, trainer: DictConfig) -> int:
    full = batch_count(n, trainer.batch_size)
    return min(full, trainer.steps_per_epoch) if trainer.steps_per_epoch else full


def callbacks(
    trainer: DictConfig, checkpoint: Path, has_val: bool, records: list | None = None
) -> list[keras.callbacks.Callback]:
    """`records` (the MLflow EpochLogger) and the CSV history write an epoch before its backup
    (Keras runs callbacks in list order): a kill between them re-runs that epoch and records
    it twice (read_history keeps the last), where backup-first would lose it from the records.
    """
    checkpoint.mkdir(parents=True, exist_ok=True)
    found = [
        *(records or []),
        keras.callbacks.CSVLogger(str(checkpoint / HISTORY_FILE), append=True),
        keras.callbacks.BackupAndRestore(str(checkpoint / "backup")),
    ]
    stopping = trainer.early_stopping
    if stopping.patience > 0:
        monitor = stopping.monitor if has_val else stopping.monitor.removeprefix("val_")
        found.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=stopping.patience,
                restore_best_weights=stopping.restore_best_weights,
            )
        )
    return found


class EpochLogger(keras.callbacks.Callback):
    """Per-epoch train/validation metrics, one point per epoch (step = epoch index).

    A refit on train+val logs under its own prefix ("refit_loss", ...), so its curves do not
    overwrite the selection run's at the same steps.
    """

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {f"{self.prefix}{k}": float(v) for k, v in (logs or {}).items()}
        if metrics:
            mlflow.log_metrics(metrics, step=epoch)


def can_resume(checkpoint: Path) -> bool:
    """An interrupted epoch loop (a backup) or a finished selection run waiting for its refit."""
    return (checkpoint / "backup").exists() or (checkpoint / SELECTED_FILE).is_file()


def training_fingerprint(cfg: DictConfig) -> str:
    """Hash of what decides the weights: the data variant, the model and the trainer."""
    settings = {part: OmegaConf.to_container(cfg[part], resolve=True) for part in FINGERPRINTED}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def start_fresh_if_not_resuming(checkpoint: Path, cfg: DictConfig) -> None:
    """Resume only an interrupted run of this very config. Anything else in the checkpoint
    (a finished run's history, or the weights of a run whose settings have changed since,
    e.g. a dropout edited after a kill) belongs to another run: drop it."""
    stamp = checkpoint / FINGERPRINT_FILE
    resumable = can_resume(checkpoint)
    same_config = stamp.is_file() and read_json(stamp)["fingerprint"] == training_fingerprint(cfg)
    if resumable and not same_config:
        log.warning(
            "%s: the interrupted run in %s was trained with other settings; starting afresh",
            cfg.name,
            checkpoint,
        )
    if not (resumable and same_config):
        shutil.rmtree(checkpoint, ignore_errors=True)


def stamp_settings(checkpoint: Path, cfg: DictConfig) -> None:
    checkpoint.mkdir(parents=True, exist_ok=True)
    write_json(checkpoint / FINGERPRINT_FILE, {"fingerprint": training_fingerprint(cfg)})


def build_and_compile(cfg: DictConfig, splits: Splits, epoch_steps: int) -> keras.Model:
    model = build_model(cfg.model, splits.spec)
    x, y = splits.arrays["train"]
    if not model.built:  # subclassed models (looped cells) get their weights on first call
        model(x[:1])
    adapt_to_training_data(model, x, y)
    loss, metrics = loss_and_metrics(splits.spec.task)
    total_steps = epoch_steps * schedule_epochs(cfg.trainer)
    optimizer = make_optimizer(cfg.trainer, total_steps, epoch_steps)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def bucket_padding(cfg: DictConfig) -> str | None:
    """The padding side to trim when trainer.bucket_by_length is on (schema checks the model)."""
    return cfg.dataset.padding if cfg.trainer.get("bucket_by_length") else None


def fit(
    cfg: DictConfig,
    splits: Splits,
    checkpoint: Path,
    extra_callbacks: list | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[keras.Model, pd.DataFrame, float]:
    trainer = cfg.trainer
    strategy = strategy or make_strategy(trainer.strategy)
    keras.utils.set_random_seed(trainer.seed)
    x, y = splits.arrays["train"]
    steps = steps_per_epoch(len(x), trainer)
    with strategy.scope():  # variables are created as the strategy's replicated variables
        model = build_and_compile(cfg, splits, steps)
    has_val = splits.has("val")
    bucket = bucket_padding(cfg)
    validation = (
        shard_by_batch(
            to_dataset(*splits.arrays["val"], trainer.batch_size, False, 0, bucket), strategy
        )
        if has_val
        else None
    )
    training_data = to_dataset(x, y, trainer.batch_size, True, trainer.seed, bucket)
    started = time.perf_counter()
    model.fit(
        shard_by_batch(training_data.repeat(), strategy),
        epochs=trainer.epochs,
        steps_per_epoch=steps,
        validation_data=validation,
        validation_steps=trainer.validation_steps if has_val else None,
        callbacks=callbacks(trainer, checkpoint, has_val, extra_callbacks),
        shuffle=False,  # to_dataset shuffles; Keras ignores (and warns about) it for datasets
        verbose=2,
    )
    seconds = time.perf_counter() - started
    # CSVLogger adds empty val_* columns to runs without validation; they say nothing.
    history = read_history(checkpoint / HISTORY_FILE).dropna(axis="columns", how="all")
    return model, history, seconds


def read_history(path: Path) -> pd.DataFrame:
    """The CSV history, one row per epoch: an epoch re-run after a kill (see `callbacks`)
    keeps its last row, the one whose weights training went on from."""
    history = pd.read_csv(path)
    return history.drop_duplicates("epoch", keep="last").reset_index(drop=True)


@dataclass
class Fitted:
    """The model to keep and how it was trained (refit_* stay empty without a refit)."""

    model: keras.Model
    history: pd.DataFrame | None  # the validation run's (None: the epochs were given)
    seconds: float
    refit_history: pd.DataFrame | None = None
    refit_seconds: float = 0.0

    @property
    def kept_epochs(self) -> int:
        """Epochs the kept model trained: the refit's, else the validation run's."""
        return len(self.refit_history if self.refit_history is not None else self.history)

    @property
    def curves(self) -> pd.DataFrame:
        """The history to plot: the validation run's, else the refit's."""
        return self.history if self.history is not None else self.refit_history

    def info(self) -> dict:
        epochs = 0 if self.history is None else len(self.history)
        info = {"seconds": round(self.seconds + self.refit_seconds, 1), "epochs": epochs}
        if self.refit_history is not None:
            info |= {
                "refit_epochs": len(self.refit_history),
                "refit_seconds": round(self.refit_seconds, 1),
            }
        return info | {"params": self.model.count_params()}


def best_epoch_count(history: pd.DataFrame, trainer: DictConfig) -> int:
    """Epochs up to the one early stopping restored (all of them without early stopping)."""
    stopping = trainer.early_stopping
    if stopping.patience == 0 or not stopping.restore_best_weights:
        return len(history)
    scores = history[stopping.monitor]
    # Keras' "auto" mode: accuracy-like monitors are maximised, the rest minimised.
    best = (
        scores.idxmax()
        if "acc" in stopping.monitor or "auc" in stopping.monitor
        else scores.idxmin()
    )
    return int(history.index.get_loc(best)) + 1


def train_and_val(splits: Splits) -> Splits:
    x = np.concatenate([splits.arrays["train"][0], splits.arrays["val"][0]])
    y = np.concatenate([splits.arrays["train"][1], splits.arrays["val"][1]])
    return Splits(splits.spec, {"train": (x, y)}, splits.vocabulary)


def schedule_epochs(trainer: DictConfig) -> int:
    """Epochs the learning-rate schedule spans (a refit's: the selection run's, `refit_config`)."""
    return trainer.get("schedule_epochs") or trainer.epochs


def refit_config(cfg: DictConfig, epochs: int) -> DictConfig:
    """The refit trains the chosen epochs on the schedule the selection run had there: a
    cosine spans the selection's planned epochs, not only the chosen ones, so the refit's
    learning rate at each epoch is the one validation judged."""
    fixed = {
        "trainer": {
            "epochs": epochs,
            "early_stopping": {"patience": 0},
            "schedule_epochs": schedule_epochs(cfg.trainer),
        }
    }
    return OmegaConf.merge(cfg, fixed)


def select_epochs(
    cfg: DictConfig, splits: Splits, checkpoint: Path, callbacks_: list, strategy
) -> tuple[keras.Model | None, pd.DataFrame, float]:
    """The validation run; with a refit coming, its outcome is saved so a resume skips it."""
    selected = checkpoint / SELECTED_FILE
    if selected.is_file():  # a resumed refit: the selection run already finished
        history = read_history(checkpoint / HISTORY_FILE)
        return None, history, read_json(selected)["seconds"]
    model, history, seconds = fit(cfg, splits, checkpoint, callbacks_, strategy)
    if cfg.trainer.refit:
        write_json(selected, {"seconds": seconds, "epochs": best_epoch_count(history, cfg.trainer)})
    return model, history, seconds


def fit_to_keep(
    cfg: DictConfig, splits: Splits, checkpoint: Path, callbacks_for, strategy
) -> Fitted:
    """Fit with validation and, with trainer.refit, refit on train+val for the chosen epochs.

    `callbacks_for(prefix)` gives the extra callbacks of each phase ("" or "refit_").
    """
    stamp_settings(checkpoint, cfg)  # what a resume must match (start_fresh_if_not_resuming)
    if not cfg.trainer.refit:
        model, history, seconds = select_epochs(
            cfg, splits, checkpoint, callbacks_for(""), strategy
        )
        return Fitted(model, history, seconds)
    history, seconds, epochs = refit_epoch_count(
        cfg, splits, checkpoint, callbacks_for(""), strategy
    )
    log.info("%s: refitting on train+val for %d epochs", cfg.name, epochs)
    refit, refit_history, refit_seconds = fit(
        refit_config(cfg, epochs),
        train_and_val(splits),
        checkpoint / "refit",
        callbacks_for("refit_"),
        strategy,
    )
    return Fitted(refit, history, seconds, refit_history, refit_seconds)


def refit_epoch_count(
    cfg: DictConfig, splits: Splits, checkpoint: Path, callbacks_: list, strategy
) -> tuple[pd.DataFrame | None, float, int]:
    """The refit's epochs: given by the config (no validation run: no history, 0 seconds), or
    chosen by a validation run, with that run's history and seconds."""
    if cfg.trainer.refit_epochs:
        log.info(
            "%s: %d epochs chosen on validation beforehand (trainer.refit_epochs)",
            cfg.name,
            cfg.trainer.refit_epochs,
        )
        return None, 0.0, cfg.trainer.refit_epochs
    _, history, seconds = select_epochs(cfg, splits, checkpoint, callbacks_, strategy)
    return history, seconds, read_json(checkpoint / SELECTED_FILE)["epochs"]


def model_summary(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    return "\n".join(lines) + "\n"


def train(cfg: DictConfig, root: Path) -> dict:
    from rnnlab import tracking
    from rnnlab.plots import learning_curves
    from rnnlab.serving import SERVING_DIR, save_and_log

    use_threads(cfg.trainer.threads)  # first: both are fixed once TensorFlow starts
    strategy = make_strategy(cfg.trainer.strategy)
    paths = experiment_paths(cfg, root)
    splits = load_splits(paths["data"], input_layout(cfg))
    if not is_chief(strategy):
        return train_as_worker(cfg, splits, paths["checkpoint"], strategy)
    start_fresh_if_not_resuming(paths["checkpoint"], cfg)
    with tracking.start_training_run(cfg, root, paths["checkpoint"]) as run:
        tracking.log_datasets(splits, cfg, paths["data"])
        tracking.log_distribution(strategy)
        fitted = fit_to_keep(
            cfg,
            splits,
            paths["checkpoint"],
            lambda prefix: [EpochLogger(prefix)],
            strategy,
        )
        model, history = fitted.model, fitted.curves
        with atomic_dir(paths["model_dir"]) as folder:
            model.save(folder / MODEL_FILE)
            model_uri = save_and_log(
                folder / SERVING_DIR,
                splits.spec.task,
                folder / MODEL_FILE,
                paths["data"],
                input_layout(cfg),
            )
            info = fitted.info()
            write_json(folder / "train_info.json", info)
            if fitted.refit_history is not None:
                fitted.refit_history.to_csv(folder / REFIT_HISTORY_FILE, index=False)
            tracking.write_run_file(folder, run.info.run_id, model_uri)
        paths["plots"].mkdir(parents=True, exist_ok=True)
        history.to_csv(paths["plots"] / HISTORY_FILE, index=False)
        learning_curves(history, paths["plots"] / "learning_curves.png", cfg.name)
        mlflow_artifacts(cfg, model, paths, info)
    shutil.rmtree(paths["checkpoint"], ignore_errors=True)
    log.info("trained %s: %s", cfg.name, info)
    return {
        "history": fitted.history,
        "refit_history": fitted.refit_history,
        "kept_epochs": fitted.kept_epochs,
        "seconds": info["seconds"],
        "model_path": paths["model_dir"] / MODEL_FILE,
        "run_id": run.info.run_id,
    }


def train_as_worker(
    cfg: DictConfig, splits: Splits, checkpoint_root: Path, strategy: tf.distribute.Strategy
) -> dict:
    """A non-chief worker of a multi-worker run: it trains its share in lock step with the
    chief but logs nothing and writes no outputs; its resumable state lives in a folder of
    its own beside the chief's, so a shared file system sees no two writers."""
    checkpoint = checkpoint_root.with_name(f"{checkpoint_root.name}.{worker_label(strategy)}")
    start_fresh_if_not_resuming(checkpoint, cfg)
    fitted = fit_to_keep(cfg, splits, checkpoint, lambda _: [], strategy)
    shutil.rmtree(checkpoint, ignore_errors=True)
    log.info("worker %s of %s done: %s", worker_label(strategy), cfg.name, fitted.info())
    return {
        "history": fitted.history,
        "refit_history": fitted.refit_history,
        "kept_epochs": fitted.kept_epochs,
        "seconds": fitted.info()["seconds"],
        "model_path": None,
        "run_id": None,
    }


def mlflow_artifacts(
    cfg: DictConfig, model: keras.Model, paths: dict[str, Path], info: dict
) -> None:
    import mlflow
    from omegaconf import OmegaConf

    mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
    mlflow.log_text(model_summary(model), "model_summary.txt")
    plots, model_dir = paths["plots"], paths["model_dir"]
    for path in (
        plots / HISTORY_FILE,
        model_dir / REFIT_HISTORY_FILE,
        plots / "learning_curves.png",
    ):
        if path.is_file():
            mlflow.log_artifact(str(path), "training")
    metrics = {
        "train_seconds": info["seconds"],
        "epochs_trained": info["epochs"],
        "model_params": info["params"],
    }
    if "refit_epochs" in info:
        metrics |= {"refit_epochs": info["refit_epochs"], "refit_seconds": info["refit_seconds"]}
    mlflow.log_metrics(metrics)
