"""`rnnlab status` and the run lock: where a pipeline stands, and one run per checkout.

Against a real DVC project (the `project` fixture, tiny data): done and pending come from
DVC, running from the stages' progress records, durations from the stages that ran.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnlab.pipeline.compose import compose_params
from rnnlab.pipeline.run_lock import holder, lock_file, run_lock
from rnnlab.pipeline.status import (
    DONE,
    PENDING,
    RUNNING,
    PipelineStatus,
    Snapshot,
    Stage,
    estimate,
    longest_first,
)
from rnnlab.pipeline.watch import Watcher, duration, headline, summary_line
from rnnlab.tracking import state

from .conftest import run
from .test_pipeline_e2e import fast_overrides

# What `dvc repro evaluate@sine_lstm` runs (evaluate scores the trained model, not the package).
SINE = ["prepare_sine@steps10", "select@sine_lstm", "train@sine_lstm", "evaluate@sine_lstm"]


def status_text(project: Path) -> str:
    return run(["rnnlab", "status"], project).stdout


def row(text: str, name: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(f"{name} ")]
    return " ".join(line.split())


@pytest.mark.slow
def test_status_shows_done_running_and_pending_stages_with_their_times(project: Path) -> None:
    compose_params(fast_overrides(project), project)
    before = status_text(project)
    assert "No run in progress: 0 of 20 stages done, 0 running, 20 pending" in before
    assert row(before, "sine_lstm") == "sine_lstm pending pending pending pending"

    # Real stages through DVC: each records how long it took (DVC itself does not).
    started = time.time()
    run(["dvc", "repro", "evaluate@sine_lstm"], project)
    took_at_most = time.time() - started
    timings = state.durations(project)
    assert set(SINE) <= set(timings)
    for stage_ in SINE:  # this run's records (a fast stage may round to 0.0 s)
        assert started <= timings[stage_]["ended"] <= started + took_at_most
        assert 0 <= timings[stage_]["seconds"] <= took_at_most
    assert not list((project / ".rnnlab" / "progress").glob("*.json"))  # each cleared its own

    # A training stage of this process, at epoch 2 of 5, and one whose process is gone.
    state.write_progress(project, "train@imdb_pool", epoch=2, epochs=5)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = state.progress_file(project, "select@shakespeare_char_gru")
    stale.write_text(json.dumps({"stage": stale.stem, "pid": gone.pid, "started": time.time()}))

    text = status_text(project)
    took = [f"done {duration(timings[s]['seconds'])}" for s in SINE[1:]]
    assert row(text, "sine_lstm") == f"sine_lstm {took[0]} {took[1]} pending {took[2]}"
    running = r"imdb_pool pending running epoch 2/5 \d+(m\d\d)?s pending pending"
    assert re.fullmatch(running, row(text, "imdb_pool"))
    assert row(text, "shakespeare_char_gru").split()[1] == "pending"  # the stale record
    assert row(text, "prepare_sine@steps10").startswith("prepare_sine@steps10 done")
    assert re.search(r"Stages running: 4 of 20 stages done, 1 running, 15 pending\. ", text)
    # Most stages were never timed, so no end is promised as if it were known.
    assert re.search(r"(at the earliest|End not known yet): 1\d stage\(s\) left were never", text)
    state.clear_progress(project, "train@imdb_pool")


def stage(name: str, state_: str, last: float | None, **running) -> Stage:
    return Stage(name, state_, last, **running)


def test_the_profile_is_parsed_again_only_when_params_yaml_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run view asks every second: a parse each time cost a sixth of a core."""
    import yaml

    params = tmp_path / "params.yaml"
    params.write_text("profile: {name: full}\n")
    parses, parse = [], yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda text: parses.append(text) or parse(text))
    full = state.profile_id(tmp_path)
    assert [state.profile_id(tmp_path) for _ in range(3)] == [full] * 3 and len(parses) == 1
    params.write_text("profile: {name: quick, epochs: 1}\n")
    assert state.profile_id(tmp_path) not in ("", full) and len(parses) == 2
    assert state.profile_id(tmp_path / "no_project") == ""


def test_the_end_is_estimated_over_the_lanes_from_the_last_durations() -> None:
    now = 1_000_000.0
    status = PipelineStatus(
        experiments={
            "long": [stage("train@long", RUNNING, 100.0, started=now - 30, epoch=1, epochs=4)],
            "mid": [stage("train@mid", PENDING, 50.0)],
            "short": [stage("train@short", PENDING, 20.0), stage("evaluate@short", DONE, 5.0)],
        },
        data=[stage("prepare@shared", PENDING, 10.0)],
        after=[stage("compare", PENDING, 4.0), stage("promote", PENDING, None)],
        data_of={"mid": ["prepare@shared"], "short": ["prepare@shared"]},
        lanes=2,
        run=None,
        now=now,
    )
    # long: 30 s for 1 of 4 epochs, so 90 s to go in lane 1; lane 2 prepares the shared data
    # with mid (10 + 50) then takes short (20): 80 s; compare follows both; promote was
    # never timed.
    assert estimate(status) == (90.0 + 4.0, 1)


def test_the_end_is_a_lower_bound_while_stages_were_never_timed() -> None:
    """A clean clone has no durations: an end computed from the timed stages alone was shown
    as the end, and read as a time already past while the first model trained."""
    now = time.mktime((2026, 12, 7, 16, 0, 0, 0, 0, -1))

    def status_with(*stages: Stage) -> PipelineStatus:
        return PipelineStatus({"x": list(stages)}, [], [], {}, lanes=1, run=None, now=now)

    training = stage("train@x", RUNNING, None, started=now - 120, epoch=1, epochs=10)
    known = status_with(training)  # 2 min per epoch, 9 to go
    assert summary_line(known).endswith("ends about 16:18 (in 18m00s)")
    assert headline(known).endswith("Ends about 16:18 (in 18m00s).")

    one_untimed = status_with(training, stage("evaluate@x", PENDING, None))
    assert summary_line(one_untimed).endswith(
        "ends 16:18 (in 18m00s) at the earliest: 1 stage(s) left were never timed"
    )
    nothing_timed = status_with(stage("train@x", RUNNING, None, started=now - 60, epoch=0))
    assert summary_line(nothing_timed).endswith(
        "end not known yet: 1 stage(s) left were never timed"
    )
    idle = status_with(stage("train@x", PENDING, 600.0), stage("evaluate@x", PENDING, None))
    assert headline(idle) == (
        "No run in progress: 0 of 2 stages done, 0 running, 2 pending. `make repro` would "
        "take at least 10m00s in 1 lanes; 1 stage(s) never timed yet."
    )


def test_the_lanes_take_the_experiments_with_most_time_left_first() -> None:
    hinted = ["char", "lstm", "pool", "bilstm", "new"]
    own = [f"{kind}@{e}" for e in hinted for kind in ("select", "train", "evaluate")]
    timed = {
        "select@char": 0.0, "train@char": 900.0, "evaluate@char": 5.0,
        "select@lstm": 300.0, "train@lstm": 200.0, "evaluate@lstm": 10.0,
        "select@pool": 50.0, "train@pool": 30.0, "evaluate@pool": 5.0,
        "select@bilstm": 700.0, "train@bilstm": 400.0, "evaluate@bilstm": 10.0,
    }  # fmt: skip
    timings = {name: {"seconds": seconds} for name, seconds in timed.items()}
    everything = Snapshot(0.0, own, frozenset(own), {})
    # new never ran (longest, as far as anyone knows); bilstm's 1,110 s beat char's 905 s.
    assert longest_first(hinted, everything, timings) == ["new", "bilstm", "char", "lstm", "pool"]
    # Unchanged selections are not pending, so they do not count: bilstm's 410 s left now
    # come after char's 905 s.
    trained = Snapshot(0.0, own, frozenset(own) - {"select@lstm", "select@bilstm"}, {})
    assert longest_first(hinted, trained, timings) == ["new", "char", "bilstm", "lstm", "pool"]
    # A clean clone has no times: the hinted order (repro.first, then as composed) stands.
    assert longest_first(hinted, everything, {}) == hinted


def test_the_run_view_shows_done_what_the_lanes_brought_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mid-run the view never asks DVC (its status fails on the stages a lane holds, and
    hashes outputs): a stage is done once its record says it ended or its lane says so,
    the only word there is of a stage DVC skipped as unchanged."""
    from dvc.repo import Repo

    monkeypatch.setattr(Repo, "__init__", lambda *a, **k: pytest.fail("asked DVC mid-run"))
    own = ["select@lstm", "train@lstm", "evaluate@lstm"]
    watcher = Watcher(tmp_path, ["lstm"], 2, Snapshot(time.time(), own, frozenset(own), {}))
    assert [s.state for s in watcher.current().experiments["lstm"]] == [PENDING] * 3
    watcher.done(["select@lstm"])  # skipped by DVC: no progress record, no duration
    assert [s.state for s in watcher.current().experiments["lstm"]] == [DONE, PENDING, PENDING]
    watcher.done(own)
    assert watcher.current().count(PENDING) == 0


def hold_lock_in_another_process(project: Path) -> subprocess.Popen:
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from rnnlab.pipeline.run_lock import run_lock\n"
        "with run_lock(Path(sys.argv[1])):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(120)\n"
    )
    holder_process = subprocess.Popen(
        [sys.executable, "-c", code, str(project)], stdout=subprocess.PIPE, text=True
    )
    assert holder_process.stdout.readline().strip() == "held"
    return holder_process


def test_a_second_run_fails_at_once_naming_the_first_and_shows_the_status(
    project: Path,
) -> None:
    compose_params(fast_overrides(project), project)
    first = hold_lock_in_another_process(project)
    try:
        second = subprocess.run(["rnnlab", "repro"], cwd=project, capture_output=True, text=True)
        assert second.returncode == 2
        since = r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
        assert re.search(rf"a run is in progress \(PID {first.pid}, {since}\)", second.stderr)
        assert f"Run in progress (PID {first.pid}" in second.stdout  # the status instead
        assert "sine_lstm" in second.stdout
        assert "Running stage" not in second.stdout and not (project / "data").exists()  # at once

        # `make repro` composes first: params.yaml is never rewritten under a run.
        params = (project / "params.yaml").read_text()
        compose = subprocess.run(
            ["rnnlab", "compose", "suite=all"], cwd=project, capture_output=True, text=True
        )
        assert compose.returncode == 2 and f"PID {first.pid}" in compose.stderr
        assert (project / "params.yaml").read_text() == params
    finally:
        first.kill()
        first.wait()
    # Killed, it left its lock behind: stale, so the next run takes it over.
    assert lock_file(project).is_file() and holder(project) is None
    with run_lock(project) as mine:
        assert mine.pid == os.getpid() and holder(project) == mine
    assert not lock_file(project).exists()
