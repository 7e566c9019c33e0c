"""`dvc exp run --queue` + `dvc queue start -j 2`: two experiments in parallel, both in MLflow.

DVC composes params.yaml itself for queued experiments (hydra is enabled in .dvc/config),
from conf/ plus the `-S` overrides, and runs each in a temporary copy under
.dvc/tmp/exps/; parallel writers need a tracking server (sqlite is single-writer).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from rnnlab.pipeline.compose import compose_params

from .conftest import run
from .test_tracking import mlflow_server  # noqa: F401  (fixture: real server on a free port)

BIN = Path(sys.executable).parent
SMOKE = ["imdb_pool", "shakespeare_char_gru", "sine_lstm"]
FAST = {"epochs": 1, "steps_per_epoch": 2, "validation_steps": 1, "batch_size": 8}
BASE = [
    "suite=smoke",
    *(f"experiments.{e}.trainer.{k}={v}" for e in SMOKE for k, v in FAST.items()),
]
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]


def set_flags(overrides: list[str]) -> list[str]:
    return [flag for override in overrides for flag in ("-S", override)]


def dvc(args: list[str], project: Path, seconds: float) -> subprocess.CompletedProcess:
    """One dvc call that cannot hang the suite: killed after `seconds`."""
    return subprocess.run(
        [str(BIN / "dvc"), *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=seconds,
    )


def start_workers(project: Path) -> None:
    # The workers are detached children of `dvc queue start` and inherit its stdout: with a
    # pipe there, the call would return only when the last worker exits (never, if one
    # stalls), so its output goes to a file.
    log = project / "queue-start.log"
    with log.open("w") as out:
        subprocess.run(
            [str(BIN / "dvc"), "queue", "start", "-j", "2"],
            cwd=project,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=120,
        )


def wait_for_queue(project: Path, finished: int, seconds: float) -> str:
    """`dvc queue status` once both tasks ended, or at the deadline; a stalled poll retries."""
    deadline = time.monotonic() + seconds
    status = ""
    while time.monotonic() < deadline:
        try:
            status = dvc(["queue", "status"], project, seconds=60).stdout
        except subprocess.TimeoutExpired:
            continue
        if status.count("Success") == finished or "Failed" in status:
            break
        time.sleep(5)
    return status


def worker_pids(project: Path) -> list[int]:
    pid_files = (project / ".dvc" / "tmp" / "exps" / "celery").glob("*.pid")
    contents = [f.read_text().strip() for f in pid_files]
    return [int(pid) for pid in contents if pid.isdigit()]


def running(pid: int) -> bool:
    # An exited worker may stay a zombie (its parent, `dvc queue start`, is gone): not running.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def stop_workers(project: Path, seconds: float = 300) -> None:
    """Let the workers finish collecting results and exit; kill any left at the deadline."""
    deadline = time.monotonic() + seconds
    while any(map(running, worker_pids(project))) and time.monotonic() < deadline:
        time.sleep(2)
    if any(map(running, worker_pids(project))):
        with contextlib.suppress(subprocess.TimeoutExpired):
            dvc(["queue", "stop", "--kill"], project, seconds=60)
        for pid in filter(running, worker_pids(project)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_queued_experiments_run_in_parallel_and_log_lineage(
    project: Path,
    mlflow_server: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    # Queued experiments run in temporary copies: the root must come from their cwd.
    monkeypatch.delenv("RNNLAB_ROOT")
    compose_params(BASE, project)
    run([str(BIN / "dvc"), "repro"], project)
    run([*GIT, "add", "-A"], project)
    run([*GIT, "commit", "-qm", "baseline"], project)

    changes = {
        "lr-pool": "experiments.imdb_pool.trainer.learning_rate=0.01",
        "lr-sine": "experiments.sine_lstm.trainer.learning_rate=0.01",
    }
    for name, change in changes.items():
        run(
            [str(BIN / "dvc"), "exp", "run", "--queue", "-n", name, *set_flags([*BASE, change])],
            project,
        )
    try:
        start_workers(project)
        status = wait_for_queue(project, finished=2, seconds=900)
    finally:
        stop_workers(project)
    assert status.count("Success") == 2, status

    shown = json.loads(dvc(["exp", "show", "--json"], project, seconds=300).stdout)
    names = {
        experiment["revs"][0].get("name")
        for baseline in shown
        for experiment in baseline.get("experiments") or []
        if experiment.get("revs")
    }
    assert set(changes) <= names

    mlflow.set_tracking_uri(mlflow_server)
    runs = mlflow.search_runs(search_all_experiments=True)
    queued = runs[runs["tags.dvc.exp_name"].notna()]
    assert dict(zip(queued["tags.dvc.exp_name"], queued["tags.mlflow.runName"], strict=True)) == {
        "lr-pool": "imdb_pool",
        "lr-sine": "sine_lstm",
    }
    assert set(queued["params.trainer.learning_rate"]) == {"0.01"}
    assert set(queued["tags.dvc.evaluate_stage"]) == {"evaluate@imdb_pool", "evaluate@sine_lstm"}
    assert not (project / "mlflow.db").exists()
