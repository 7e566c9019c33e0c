"""Resumable training state outside DVC outputs (DVC clears those before a stage runs).

keras.callbacks.BackupAndRestore keeps the last completed epoch in
`checkpoints/<experiment>/<phase>/backup`, so a killed run continues from there on the next
`dvc repro`. The folder is stamped with the settings it was trained with
(`fingerprint.json`): a changed config starts afresh instead of resuming someone else's run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rnnlab.io import read_json, write_json

log = logging.getLogger(__name__)
FINGERPRINT_FILE = "fingerprint.json"  # the settings a checkpoint was trained with
BACKUP_DIR = "backup"
FINGERPRINTED = ("dataset", "model", "trainer")


def can_resume(checkpoint: Path) -> bool:
    """An interrupted epoch loop left a backup behind."""
    return any(checkpoint.glob(f"**/{BACKUP_DIR}"))


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
    checkpoint.mkdir(parents=True, exist_ok=True)
    write_json(stamp, {"fingerprint": training_fingerprint(cfg)})


def worker_checkpoint(checkpoint: Path, worker: str) -> Path:
    """A non-chief worker's folder for one phase: checkpoints/<experiment>.<worker>/<phase>,
    beside the chief's checkpoints/<experiment>/, which the chief removes when it ends."""
    experiment = checkpoint.parent
    return experiment.with_name(f"{experiment.name}.{worker}") / checkpoint.name
