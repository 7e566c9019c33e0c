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
from rnnlab.data.splits import input_layout
from rnnlab.io import atomic_file, read_json, write_json
from rnnlab.tasks import load_prepared
from rnnlab.tracking import progress
from rnnlab.tracking import runs as tracking
from rnnlab.training.checkpoints import start_fresh_if_not_resuming, worker_checkpoint
from rnnlab.training.selection import Selection, select
from rnnlab.training.strategy import is_chief, make_strategy, use_threads, worker_label

log = logging.getLogger(__name__)
CHECKPOINT_PHASE = "select"


def run_select(cfg: DictConfig, root: Path) -> Selection:
    """Choose (or, without a refit, record that train's early stopping chooses) and write
    selection/<experiment>.json; a non-chief worker of a multi-worker run writes nothing."""
    # The experiment's run goes to the tracking server next: know now that it is there.
    tracking.check_reachable(tracking.tracking_uri(root))
    paths = experiment_paths(cfg, root)
    if not cfg.trainer.refit:
        selection, chief = Selection(refit=False), True
    else:
        selection, chief = validation_run(cfg, root, paths)
    if chief:
        with atomic_file(paths["selection"]) as tmp:
            write_json(tmp, selection.to_dict())
        log.info("selected %s: refit=%s epochs=%s", cfg.name, selection.refit, selection.epochs)
    return selection


def validation_run(cfg: DictConfig, root: Path, paths: dict[str, Path]) -> tuple[Selection, bool]:
    """The validation run, and whether this process is the chief (a non-chief worker of a
    multi-worker run trains in lock step with the chief in a checkpoint of its own)."""
    use_threads(cfg.trainer.threads)  # first: both are fixed once TensorFlow starts
    strategy = make_strategy(cfg.trainer.strategy)
    splits = load_prepared(paths["data"], input_layout(cfg))
    checkpoint = paths["checkpoint"] / CHECKPOINT_PHASE
    reporters = progress.reporters(cfg, root, "select") if is_chief(strategy) else []
    if not is_chief(strategy):
        checkpoint = worker_checkpoint(checkpoint, worker_label(strategy))
    start_fresh_if_not_resuming(checkpoint, cfg)
    selection = select(cfg, splits, checkpoint, reporters, strategy)
    shutil.rmtree(checkpoint, ignore_errors=True)
    return selection, is_chief(strategy)


def read_selection(path: Path) -> Selection:
    from rnnlab.errors import DataError

    if not path.is_file():
        raise DataError(f"{path} is missing: run the select stage first (dvc repro select@...)")
    return Selection.from_dict(read_json(path))
