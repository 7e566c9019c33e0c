"""What a fit reports while it runs: per-epoch metrics to MLflow, a line per epoch in the
log, and epoch x of N in .rnnlab/progress/<stage>.json for `rnnlab status` (tracking.state).

Nothing here shapes a model (tests/test_stage_deps.py declares it so): the training stages
hand `reporters(...)` to the fit as Keras callbacks that only read the epoch's logs, so a
change to what or where they report never retrains a model. They hook epochs only, never
batches, which would change how Keras dispatches steps.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import keras
from omegaconf import DictConfig

from rnnlab.tracking import runs as tracking
from rnnlab.tracking.state import write_progress

log = logging.getLogger(__name__)


class EpochLogger(keras.callbacks.Callback):
    """Per-epoch metrics to the active MLflow run (a refit's under the prefix "refit_")."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        tracking.log_epoch(logs or {}, epoch, self.prefix)


class EpochProgress(keras.callbacks.Callback):
    """Epoch x of N into the stage's progress record, and one line per epoch in the log."""

    def __init__(self, root: Path, stage: str) -> None:
        super().__init__()
        self.root, self.stage = root, stage
        self.epoch_started = time.monotonic()

    def planned_epochs(self) -> int | None:
        return (self.params or {}).get("epochs")

    def on_train_begin(self, logs: dict | None = None) -> None:
        write_progress(self.root, self.stage, epoch=0, epochs=self.planned_epochs())

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.monotonic() - self.epoch_started
        write_progress(self.root, self.stage, epoch=epoch + 1, epochs=self.planned_epochs())
        scores = " ".join(f"{k}={float(v):.4g}" for k, v in (logs or {}).items() if v is not None)
        log.info(
            "%s epoch %d/%s %s (%.0fs)",
            self.stage,
            epoch + 1,
            self.planned_epochs(),
            scores,
            seconds,
        )


def reporters(
    cfg: DictConfig, root: Path, stage: str, metrics_prefix: str | None = None
) -> list[keras.callbacks.Callback]:
    """The callbacks a training stage's fit reports through: its progress and, given a
    `metrics_prefix`, the epoch's metrics under it to the active MLflow run."""
    progress = EpochProgress(root, f"{stage}@{cfg.name}")
    return [progress] if metrics_prefix is None else [EpochLogger(metrics_prefix), progress]
