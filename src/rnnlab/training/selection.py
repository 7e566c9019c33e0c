"""Choosing the epochs of a refit on train+val from a validation run, and the refit itself.

With `trainer.refit: true` the select stage trains on the training split with early
stopping on validation and records the best epoch (`Selection`); the train stage then
trains a fresh model on train+val for that many epochs, as the published IMDB baselines
train on all 25,000 training reviews. Without a refit, the train stage's own validation run
(early stopping, best weights restored) is the model kept.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from rnnlab.data.arrays import example_outputs
from rnnlab.data.padding import repad
from rnnlab.data.splits import Splits, bucket_padding
from rnnlab.training.fit import fit, schedule_epochs

log = logging.getLogger(__name__)
OUTPUT_DIGITS = 6  # of the recorded validation outputs: far below any metric's precision


@dataclass
class Selection:
    """What the select stage chose (selection/<experiment>.json, kept in git)."""

    refit: bool
    epochs: int | None = None  # the refit's epoch count (None: no refit)
    monitor: str | None = None
    best: float | None = None  # the monitored value at the chosen epoch
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)  # the validation run, one row per epoch
    # The chosen epoch's output for each validation example, in the split's order, for
    # models with one output per example: what an ensemble's weights are fitted on (they
    # must never see the test split, and the refit has seen the validation split).
    validation_outputs: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict) -> Selection:
        return cls(**payload)

    def history_frame(self) -> pd.DataFrame | None:
        return pd.DataFrame(self.history) if self.history else None


@dataclass
class Fitted:
    """The model to keep, how long it trained, and the history of its own fit."""

    model: keras.Model
    history: pd.DataFrame
    seconds: float
    selection: Selection

    def info(self) -> dict:
        """Epochs of the validation run (selection's or the fit's own) and of the refit."""
        own = len(self.history)
        info = {"seconds": round(self.selection.seconds + self.seconds, 1)}
        if self.selection.refit:
            info |= {
                "epochs": len(self.selection.history),
                "refit_epochs": own,
                "refit_seconds": round(self.seconds, 1),
            }
        else:
            info["epochs"] = own
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


def select(
    cfg: DictConfig, splits: Splits, checkpoint: Path, callbacks: list, strategy
) -> Selection:
    """The validation run of a refitting experiment; a no-op record for the others."""
    if not cfg.trainer.refit:
        return Selection(refit=False)
    model, history, seconds = fit(cfg, splits, checkpoint, callbacks, strategy)
    epochs = best_epoch_count(history, cfg.trainer)
    monitor = cfg.trainer.early_stopping.monitor
    best = float(history[monitor].iloc[epochs - 1]) if monitor in history else None
    log.info("%s: %s is best after %d of %d epochs", cfg.name, monitor, epochs, len(history))
    records = history.replace({np.nan: None}).to_dict(orient="records")
    outputs = validation_outputs(model, splits, cfg)
    return Selection(True, epochs, monitor, best, round(seconds, 1), records, outputs)


def validation_outputs(model: keras.Model, splits: Splits, cfg: DictConfig) -> list[float]:
    """The model's output for each validation example (early stopping restored the chosen
    epoch's weights), rounded for the record; none for models with several per example."""
    if not splits.has("val"):
        return []
    x = splits.arrays["val"][0]
    if np.shape(model.predict_on_batch(x[:1]))[1:] != (1,):  # e.g. a character model's steps
        return []
    outputs = example_outputs(model, x, bucket_padding(cfg))
    return [round(float(v), OUTPUT_DIGITS) for v in outputs]


def train_and_val(splits: Splits, dataset: DictConfig) -> Splits:
    """The refit's training rows: validation rows join the training ones, cut as training
    cuts them when the dataset holds held-out rows longer (dataset.read_len > max_len)."""
    x_train, y_train = splits.arrays["train"]
    x_val, y_val = splits.arrays["val"]
    if x_val.shape[1:] != x_train.shape[1:]:
        x_val = repad(x_val, x_train.shape[1], dataset.padding, dataset.truncating)
    x = np.concatenate([x_train, x_val])
    return Splits(splits.spec, {"train": (x, np.concatenate([y_train, y_val]))}, splits.vocabulary)


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


def fit_to_keep(
    cfg: DictConfig,
    splits: Splits,
    selection: Selection,
    checkpoint: Path,
    callbacks: list,
    strategy,
) -> Fitted:
    """The model to keep: a refit on train+val for the selected epochs, or a fit with
    validation and early stopping."""
    if selection.refit:
        log.info("%s: refitting on train+val for %d epochs", cfg.name, selection.epochs)
        refit = refit_config(cfg, selection.epochs)
        model, history, seconds = fit(
            refit, train_and_val(splits, cfg.dataset), checkpoint, callbacks, strategy
        )
    else:
        model, history, seconds = fit(cfg, splits, checkpoint, callbacks, strategy)
    return Fitted(model, history, seconds, selection)
