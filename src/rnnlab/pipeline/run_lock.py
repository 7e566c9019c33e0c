"""One `rnnlab repro` per checkout: .rnnlab/run.lock holds the running one's pid and start.

A second run started meanwhile fails at once, naming the first (its stages would only
collide on DVC's locks, "... is busy", once per experiment). A lock whose process is gone
(killed, machine restarted) is stale: the next run takes it over.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rnnlab.config.settings import state_dir
from rnnlab.errors import PipelineError
from rnnlab.tracking.state import is_alive, own_identity, read_record

LOCK_FILE = "run.lock"


@dataclass(frozen=True)
class Holder:
    """The run that holds the lock."""

    pid: int
    started: float  # unix time

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"PID {self.pid}, since {since}"


class RunInProgress(PipelineError):
    """Another run of the pipeline holds this checkout."""

    def __init__(self, holder: Holder) -> None:
        super().__init__(
            f"a run is in progress ({holder.describe()}); wait for it to end, or stop it "
            f"(kill {holder.pid}) and start again: finished stages are kept"
        )
        self.holder = holder


def lock_file(root: Path) -> Path:
    return state_dir(root) / LOCK_FILE


def holder(root: Path) -> Holder | None:
    """The live run holding the lock, if any (a stale lock counts as none)."""
    record = read_record(lock_file(root))
    if not record or not isinstance(record.get("pid"), int):
        return None
    if not is_alive(record["pid"], record.get("pid_start")):
        return None
    return Holder(record["pid"], float(record.get("started", 0.0)))


def check_free(root: Path) -> None:
    """Fail if a run holds the lock (before rewriting params.yaml under it, say)."""
    if (current := holder(root)) is not None and current.pid != os.getpid():
        raise RunInProgress(current)


def being_written(path: Path) -> bool:
    """A lock file just created by another run that has not yet written its record."""
    try:
        fresh = time.time() - path.stat().st_mtime < 2.0
    except FileNotFoundError:
        return False
    return fresh and read_record(path) is None


@contextmanager
def run_lock(root: Path) -> Iterator[Holder]:
    """Hold the checkout's lock for the block; RunInProgress if a live run has it."""
    path = lock_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"started": time.time(), **own_identity()}
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if being_written(path):
                time.sleep(0.1)
                continue
            check_free(root)
            stale = path.with_name(f"{LOCK_FILE}.stale.{os.getpid()}")
            try:  # rename, not unlink: of two runs clearing it, one wins, the other retries
                os.rename(path, stale)
                stale.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        break
    try:
        yield Holder(os.getpid(), record["started"])
    finally:
        path.unlink(missing_ok=True)
