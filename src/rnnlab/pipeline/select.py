"""The select stage: a refitting experiment's validation run chooses the refit's epochs.

Its record, selection/<experiment>.json, is a small DVC output kept in git (like metrics):
a clean clone whose data, code and params are unchanged does not run it again, and a
changed experiment does. Experiments that do not refit record only that.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from omegaconf import DictConfig

from rnnlab.config.settings import experiment_paths
from rnnlab.data.arrays import input_layout
from rnnlab.io import atomic_file, read_json, write_json
from rnnlab.tasks import load_prepared
from rnnlab.tracking import runs as tracking
from rnnlab.training.checkpoints import start_fresh_if_not_resuming
from rnnlab.training.selection import Selection, select
from rnnlab.training.strategy import is_chief, make_strategy, use_threads, worker_label

log = logging.getLogger(__name__)
CHECKPOINT_PHASE = "select"


def run_select(cfg: DictConfig, root: Path) -> Selection:
    # The experiment's run goes to the tracking server next: know now that it is there.
    tracking.check_reachable(tracking.tracking_uri(root))
    paths = experiment_paths(cfg, root)
    selection = validation_run(cfg, paths) if cfg.trainer.refit else Selection(refit=False)
    if selection is not None:
        with atomic_file(paths["selection"]) as tmp:
            write_json(tmp, selection.to_dict())
        log.info("selected %s: refit=%s epochs=%s", cfg.name, selection.refit, selection.epochs)
    return selection


def validation_run(cfg: DictConfig, paths: dict[str, Path]) -> Selection | None:
    """The validation run; a non-chief worker of a multi-worker run trains in lock step with
    the chief but writes nothing (None)."""
    use_threads(cfg.trainer.threads)  # first: both are fixed once TensorFlow starts
    strategy = make_strategy(cfg.trainer.strategy)
    splits = load_prepared(paths["data"], input_layout(cfg))
    checkpoint = paths["checkpoint"] / CHECKPOINT_PHASE
    if not is_chief(strategy):
        checkpoint = checkpoint.with_name(f"{CHECKPOINT_PHASE}.{worker_label(strategy)}")
    start_fresh_if_not_resuming(checkpoint, cfg)
    selection = select(cfg, splits, checkpoint, [], strategy)
    shutil.rmtree(checkpoint, ignore_errors=True)
    return selection if is_chief(strategy) else None


def read_selection(path: Path) -> Selection:
    from rnnlab.errors import DataError

    if not path.is_file():
        raise DataError(f"{path} is missing: run the select stage first (dvc repro select@...)")
    return Selection.from_dict(read_json(path))
