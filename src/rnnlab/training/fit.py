"""Fit one model from its config: build, compile, fit with resumable checkpoints.

`fit` is the one training loop; the selection run (training.selection) and the final fit or
refit (pipeline.train) both call it.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import keras
import pandas as pd
import tensorflow as tf
from omegaconf import DictConfig

from rnnlab.config.schema import OPTIMIZERS
from rnnlab.data.arrays import batch_count, to_dataset
from rnnlab.data.splits import Splits, bucket_padding
from rnnlab.models.registry import adapt_to_training_data, build_model
from rnnlab.tasks import get_task
from rnnlab.training.adversarial import trained_model, with_adversarial_training
from rnnlab.training.checkpoints import BACKUP_DIR
from rnnlab.training.strategy import make_strategy, shard_by_batch

HISTORY_FILE = "history.csv"  # the CSV log of a fit in its checkpoint folder


def make_optimizer(
    trainer: DictConfig, total_steps: int, epoch_steps: int
) -> keras.optimizers.Optimizer:
    rate = trainer.learning_rate
    if trainer.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(total_steps, 1))
    kwargs = {"clipnorm": trainer.clipnorm} if trainer.get("clipnorm") else {}
    if trainer.get("weight_decay"):
        kwargs["weight_decay"] = trainer.weight_decay  # decoupled (AdamW-style) decay
    if trainer.get("ema"):
        # Written into the weights at each epoch's end, so validation (and early stopping,
        # and the refit's last epoch) judges the averaged weights, not the last step's.
        kwargs.update(use_ema=True, ema_momentum=trainer.ema, ema_overwrite_frequency=epoch_steps)
    optimizer = getattr(keras.optimizers, OPTIMIZERS[trainer.optimizer])
    return optimizer(learning_rate=rate, **kwargs)


def schedule_epochs(trainer: DictConfig) -> int:
    """Epochs the learning-rate schedule spans (a refit's: the selection run's)."""
    return trainer.get("schedule_epochs") or trainer.epochs


def steps_per_epoch(n: int, trainer: DictConfig) -> int:
    full = batch_count(n, trainer.batch_size)
    return min(full, trainer.steps_per_epoch) if trainer.steps_per_epoch else full


def callbacks(
    trainer: DictConfig, checkpoint: Path, has_val: bool, records: list | None = None
) -> list[keras.callbacks.Callback]:
    """`records` (tracking.progress: MLflow metrics, progress) and the CSV history write an
    epoch before its backup (Keras runs callbacks in list order): a kill between them re-runs
    that epoch and records it twice (read_history keeps the last), where backup-first would
    lose it from the records.
    """
    checkpoint.mkdir(parents=True, exist_ok=True)
    found = [
        *(records or []),
        keras.callbacks.CSVLogger(str(checkpoint / HISTORY_FILE), append=True),
        keras.callbacks.BackupAndRestore(str(checkpoint / BACKUP_DIR)),
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


def build_and_compile(cfg: DictConfig, splits: Splits, epoch_steps: int) -> keras.Model:
    model = build_model(cfg.model, splits.spec)
    x, y = splits.arrays["train"]
    if not model.built:  # subclassed models (looped cells) get their weights on first call
        model(x[:1])
    adapt_to_training_data(cfg.model, model, x, y)
    model = with_adversarial_training(model, cfg.trainer.adversarial_epsilon)
    loss, metrics = get_task(splits.spec.task).loss_and_metrics()
    total_steps = epoch_steps * schedule_epochs(cfg.trainer)
    optimizer = make_optimizer(cfg.trainer, total_steps, epoch_steps)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


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
    with warnings.catch_warnings():
        # A model solved as it adapts (naive Bayes' liblinear solver) has nothing left to
        # train: its epochs only measure it, which is what Keras warns about.
        warnings.filterwarnings("ignore", "The model does not have any trainable weights")
        model.fit(
            shard_by_batch(training_data.repeat(), strategy),
            epochs=trainer.epochs,
            steps_per_epoch=steps,
            validation_data=validation,
            validation_steps=trainer.validation_steps if has_val else None,
            callbacks=callbacks(trainer, checkpoint, has_val, extra_callbacks),
            shuffle=False,  # to_dataset shuffles; Keras ignores (and warns about) it for datasets
            verbose=0,  # the callbacks report (tracking.progress), outside the stages' deps
        )
    seconds = time.perf_counter() - started
    # CSVLogger adds empty val_* columns to runs without validation; they say nothing.
    history = read_history(checkpoint / HISTORY_FILE).dropna(axis="columns", how="all")
    return trained_model(model), history, seconds


def read_history(path: Path) -> pd.DataFrame:
    """The CSV history, one row per epoch: an epoch re-run after a kill (see `callbacks`)
    keeps its last row, the one whose weights training went on from."""
    history = pd.read_csv(path)
    return history.drop_duplicates("epoch", keep="last").reset_index(drop=True)


def model_summary(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    return "\n".join(lines) + "\n"
