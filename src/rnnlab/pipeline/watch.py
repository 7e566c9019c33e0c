"""Showing where the pipeline stands: the `rnnlab status` table, and the view `rnnlab repro`
keeps up while it runs: a live table under the lanes' lines on a terminal, a plain status
line whenever a stage starts or ends otherwise (CI logs, a pipe).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from rnnlab.pipeline.status import (
    DONE,
    PENDING,
    RUNNING,
    PipelineStatus,
    Snapshot,
    Stage,
    build,
)
from rnnlab.tracking import state

STAGE_COLUMNS = ("select", "train", "package", "evaluate")
STYLE = {DONE: "green", RUNNING: "bold yellow", PENDING: "dim"}
TICK = 1.0  # seconds between looks at the progress records
WIDE = 160  # columns of the table off a terminal
# Under a minute of timed work left beside untimed stages, a lower bound says nothing.
NOTHING_TIMED = 60.0


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def clock(moment: float) -> str:
    return time.strftime("%H:%M", time.localtime(moment))


def describe(stage: Stage, now: float) -> str:
    """One stage in a few words: done in its time, running for so long (at epoch x of N),
    pending (~ its last time)."""
    if stage.state == RUNNING:
        so_far = duration(now - (stage.started or now))
        epochs = f" epoch {stage.epoch or 0}/{stage.epochs}" if stage.epochs else ""
        return f"running{epochs} {so_far}"
    if stage.last is None:
        return stage.state
    return f"{stage.state} {'' if stage.state == DONE else '~'}{duration(stage.last)}"


def headline(status: PipelineStatus) -> str:
    total = len(status.stages())
    done, running, pending = (status.count(s) for s in (DONE, RUNNING, PENDING))
    if not running and not pending:
        return f"Everything is up to date: {total} of {total} stages done."
    counts = f"{done} of {total} stages done, {running} running, {pending} pending"
    if status.run is None and not running:
        return f"No run in progress: {counts}. {would_take(status)}."
    who = f"Run in progress ({status.run.describe()})" if status.run else "Stages running"
    end = ending(status)
    return f"{who}: {counts}. {end[0].upper()}{end[1:]}."


def would_take(status: PipelineStatus) -> str:
    seconds, unknown = status.left()
    lanes = f"in {status.lanes} lanes"
    if not unknown:
        return f"`make repro` would take about {duration(seconds)} {lanes}"
    untimed = f"{unknown} stage(s) never timed yet"
    if seconds < NOTHING_TIMED:
        return f"`make repro` would run {untimed}, {lanes}"
    return f"`make repro` would take at least {duration(seconds)} {lanes}; {untimed}"


def ending(status: PipelineStatus) -> str:
    """When the run should end. Stages never timed count as zero, so with any of them the
    estimate is only a lower bound, and with nothing timed left it says nothing."""
    seconds, unknown = status.left()
    ends = f"{clock(status.now + seconds)} (in {duration(seconds)})"
    if not unknown:
        return f"ends about {ends}"
    if seconds < NOTHING_TIMED:
        return f"end not known yet: {unknown} stage(s) left were never timed"
    return f"ends {ends} at the earliest: {unknown} stage(s) left were never timed"


def table(status: PipelineStatus) -> Table:
    grid = Table(box=None, pad_edge=False, header_style="bold")
    grid.add_column("experiment")
    for column in STAGE_COLUMNS:
        grid.add_column(column)
    for experiment, stages in status.experiments.items():
        by_kind = {s.name.split("@", 1)[0]: s for s in stages}
        cells = [cell(by_kind[c], status.now) if c in by_kind else Text("") for c in STAGE_COLUMNS]
        grid.add_row(experiment, *cells)
    return grid


def others(status: PipelineStatus) -> Table:
    grid = Table(box=None, pad_edge=False, header_style="bold")
    grid.add_column("other stages")
    grid.add_column("")
    for stage in [*status.data, *status.after]:
        grid.add_row(stage.name, cell(stage, status.now))
    return grid


def cell(stage: Stage, now: float) -> Text:
    return Text(describe(stage, now), style=STYLE[stage.state])


def render(status: PipelineStatus) -> Group:
    return Group(Text(headline(status), style="bold"), table(status), others(status))


def summary_line(status: PipelineStatus) -> str:
    """The plain view's line: counts, what runs (with its epoch), the estimated end."""
    running = [
        f"{s.name} (epoch {s.epoch or 0} of {s.epochs})" if s.epochs else s.name
        for s in status.stages()
        if s.state == RUNNING
    ]
    done = status.count(DONE)
    return (
        f"[status] {done} of {len(status.stages())} stages done; "
        f"running: {', '.join(running) or 'none'}; {ending(status)}"
    )


def show(status: PipelineStatus) -> None:
    # Off a terminal (a pipe, a CI log) rich would wrap at 80 columns.
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=WIDE)
    console.print(render(status))


class Watcher:
    """Keeps the status current while `rnnlab repro` runs, from the progress records (every
    TICK) and the lanes' word on what they finished, over DVC's view taken before the run.

    DVC is not asked again mid-run: its status takes a read lock on each stage's outputs,
    so it fails on the stages a lane holds, and it hashes every file it reaches first (a
    fifth of a core beside the lanes, measured on a full run)."""

    def __init__(self, root: Path, experiments: Sequence[str], lanes: int, shot: Snapshot):
        self.root, self.experiments, self.lanes, self.shot = root, experiments, lanes, shot
        self.stopped = threading.Event()
        self.seen: frozenset[str] = frozenset()
        self.finished: frozenset[str] = frozenset()
        self.lock = threading.Lock()

    def done(self, stages: Iterable[str]) -> None:
        """Stages up to date now, those DVC skipped as unchanged included (they leave no
        progress record)."""
        with self.lock:
            self.finished |= frozenset(stages)

    def current(self) -> PipelineStatus:
        self.seen = frozenset(state.running_stages(self.root))
        with self.lock:
            shot = replace(self.shot, pending=self.shot.pending - self.finished)
        return build(self.root, shot, self.experiments, self.lanes)

    def run_plain(self) -> None:
        """A line when a stage starts or ends (the stages log their own epochs)."""
        said = None
        while True:
            stopping = self.stopped.is_set()
            status = self.current()
            if (key := (status.count(DONE), self.seen)) != said:
                said = key
                print(summary_line(status), flush=True)
            if stopping:
                return
            self.stopped.wait(TICK)

    def run_live(self, live: Live) -> None:
        while not self.stopped.wait(TICK):
            live.update(render(self.current()))


class RunView:
    """The view around a run: `with RunView(...): lanes run`."""

    def __init__(self, root: Path, experiments: Sequence[str], lanes: int, shot: Snapshot):
        self.watcher = Watcher(root, experiments, lanes, shot)
        self.live: Live | None = None
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> RunView:
        if sys.stdout.isatty():
            self.live = Live(render(self.watcher.current()), refresh_per_second=2)
            self.live.__enter__()
            target, args = self.watcher.run_live, (self.live,)
        else:
            target, args = self.watcher.run_plain, ()
        self.threads = [threading.Thread(target=target, args=args, daemon=True)]
        for thread in self.threads:
            thread.start()
        return self

    def done(self, stages: Iterable[str]) -> None:
        """A lane's word: these stages are up to date."""
        self.watcher.done(stages)

    def __exit__(self, *exc) -> None:
        self.watcher.stopped.set()
        for thread in self.threads:
            thread.join(timeout=5)
        if self.live is not None:
            self.live.update(render(self.watcher.current()))
            self.live.__exit__(*exc)
