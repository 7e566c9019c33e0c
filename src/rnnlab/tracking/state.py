"""The run state `rnnlab status` reads, in the gitignored .rnnlab/ folder of the repository.

- progress/<stage>.json: a stage that is running, written by its own process: its pid
  (and the pid's start time, so a reused pid is not taken for it), when it started and,
  while it trains, epoch x of N (tracking.progress). Removed when the stage ends; a record
  whose process is gone is stale and ignored.
- durations/<stage>.json: how long the stage's last successful run took, written by the
  stage's process as it ends. DVC records no durations, and MLflow runs cannot give them
  (one run spans train, package and evaluate; data stages have none), so the stage times
  itself. Each record carries the profile it ran under (quick or full, by the params.yaml
  `profile` section), so a quick run's times never estimate a full run's.

One file per stage: two lanes never write the same file, and every write is atomic.
Nothing here fails a stage: run state is a courtesy to the person watching.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from rnnlab.config.settings import PARAMS_FILE, state_dir
from rnnlab.io import read_json, write_json

log = logging.getLogger(__name__)
PROGRESS_DIR = "progress"
DURATIONS_DIR = "durations"
PROFILE_KEY = "profile"


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name may hold spaces


def is_alive(pid: int, started_ticks: int | None = None) -> bool:
    """Whether `pid` runs and, given its start time, is still the same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    return started_ticks is None or process_start(pid) in (None, started_ticks)


def own_identity() -> dict[str, Any]:
    return {"pid": os.getpid(), "pid_start": process_start(os.getpid())}


def read_record(path: Path) -> dict[str, Any] | None:
    """A record, or None if it is gone or unreadable."""
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(path: Path, record: dict[str, Any]) -> None:
    try:
        write_json(path, record)
    except OSError as exc:
        log.debug("cannot write %s: %s", path, exc)


def progress_file(root: Path, stage: str) -> Path:
    return state_dir(root) / PROGRESS_DIR / f"{stage}.json"


def write_progress(root: Path, stage: str, **fields: Any) -> None:
    """Merge `fields` into the stage's record; the first write of a process sets its pid
    and start time (the stage's command writes it first, so the time is the stage's)."""
    path = progress_file(root, stage)
    record = read_record(path) or {}
    if record.get("pid") != os.getpid():
        record = {"stage": stage, "started": time.time(), **own_identity()}
    write_record(path, record | fields | {"updated": time.time()})


def clear_progress(root: Path, stage: str) -> None:
    """Remove the stage's record if this process wrote it."""
    path = progress_file(root, stage)
    record = read_record(path)
    if record is not None and record.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def running_stages(root: Path) -> dict[str, dict[str, Any]]:
    """Stage -> progress record, for the stages whose process is alive."""
    found = {}
    for path in sorted((state_dir(root) / PROGRESS_DIR).glob("*.json")):
        record = read_record(path)
        if record and "pid" in record and is_alive(record["pid"], record.get("pid_start")):
            found[record.get("stage", path.stem)] = record
    return found


def profile_id(root: Path) -> str:
    """Which profile params.yaml runs (a digest of its `profile` section): durations of
    another profile estimate nothing."""
    path = root / PARAMS_FILE
    try:
        stat = path.stat()
    except OSError:
        return ""
    return profile_of(path, stat.st_mtime_ns, stat.st_size)


# The run view asks every second; parsing params.yaml took 0.14 s of a core each time, a
# sixth of a core beside the training lanes. Parsed again only when the file changes.
@functools.lru_cache(maxsize=4)
def profile_of(path: Path, mtime_ns: int, size: int) -> str:
    import yaml

    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        return ""
    section = json.dumps(params.get(PROFILE_KEY), sort_keys=True)
    return hashlib.sha256(section.encode()).hexdigest()[:12]


def duration_file(root: Path, stage: str) -> Path:
    return state_dir(root) / DURATIONS_DIR / f"{stage}.json"


def record_duration(root: Path, stage: str, seconds: float) -> None:
    record = {
        "stage": stage,
        "seconds": round(seconds, 1),
        "ended": time.time(),
        "profile": profile_id(root),
    }
    write_record(duration_file(root, stage), record)


def durations(root: Path) -> dict[str, dict[str, Any]]:
    """Stage -> its last successful run's record, for runs of params.yaml's profile."""
    profile = profile_id(root)
    found = {}
    for path in sorted((state_dir(root) / DURATIONS_DIR).glob("*.json")):
        record = read_record(path)
        if record and record.get("profile") == profile and "seconds" in record:
            found[record.get("stage", path.stem)] = record
    return found
