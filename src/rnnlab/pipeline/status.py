"""`rnnlab status`: per experiment its stages done, running (epoch x of N) or pending, the
last run's time of each, and when the whole pipeline should end.

Done or pending is DVC's own answer (`dvc status`: a stage whose deps, params or outs
changed, and everything downstream of it, is pending); running comes from the stages'
progress records whose process is alive (tracking.state), and so do the durations. The
estimate replays what is left over the lanes of `rnnlab repro` (pipeline.lanes: the same
queue order, an experiment's stages in one lane, the shared data stages with the first
experiment that needs them), then the stages after every experiment (compare, promote).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rnnlab.config.settings import load_params_section
from rnnlab.pipeline.lanes import data_stages, own_stages, queue_order
from rnnlab.pipeline.run_lock import Holder, holder
from rnnlab.tracking import state

DONE, RUNNING, PENDING = "done", "running", "pending"
STATUS_ATTEMPTS = 40  # DVC's repository lock is held for seconds at most by a lane


@dataclass(frozen=True)
class Snapshot:
    """DVC's view at one moment: the stages in order, which are pending, and each
    experiment's data stages (upstream of its training)."""

    taken: float
    stages: list[str]
    pending: frozenset[str]
    data_of: Mapping[str, Sequence[str]]


@dataclass
class Stage:
    name: str
    state: str
    last: float | None = None  # seconds of its last successful run (this profile)
    started: float | None = None  # running: since when (unix time)
    epoch: int | None = None
    epochs: int | None = None

    def remaining(self, now: float) -> float | None:
        """Seconds left (None: never timed); a training stage extrapolates its epochs."""
        if self.state == DONE:
            return 0.0
        if self.state == PENDING:
            return self.last
        elapsed = now - (self.started or now)
        if self.epoch and self.epochs:
            expected = elapsed / self.epoch * self.epochs
        elif self.last is not None:
            expected = self.last
        else:
            return None
        return max(expected - elapsed, 0.0)


@dataclass
class PipelineStatus:
    experiments: dict[str, list[Stage]]  # in queue order
    data: list[Stage]
    after: list[Stage]
    data_of: Mapping[str, Sequence[str]]  # experiment -> its data stages
    lanes: int
    run: Holder | None
    now: float = field(default_factory=time.time)

    def stages(self) -> list[Stage]:
        return [*self.data, *(s for own in self.experiments.values() for s in own), *self.after]

    def count(self, which: str) -> int:
        return sum(s.state == which for s in self.stages())

    def left(self) -> tuple[float, int]:
        """Seconds until the pipeline ends, and how many stages left had no time to go by."""
        return estimate(self)


def snapshot(root: Path, experiments: Sequence[str]) -> Snapshot:
    """DVC's view now, waiting while a lane holds DVC's repository lock."""
    from dvc.lock import LockError
    from dvc.repo import Repo

    attempts = 0
    while True:
        try:
            with Repo(str(root)) as repo:
                return snapshot_of(repo, root, experiments)
        except LockError:
            attempts += 1
            if attempts == STATUS_ATTEMPTS:
                raise
            time.sleep(0.5)


def snapshot_of(repo, root: Path, experiments: Sequence[str]) -> Snapshot:
    import networkx as nx

    taken = time.time()
    changed = set(repo.status())
    graph = repo.index.graph
    ordered = list(repo.index.stages)  # as dvc.yaml lists them
    pending = set()
    for stage in ordered:
        if stage.addressing in changed or stage.name in changed:
            pending |= {stage.name} | {s.name for s in nx.ancestors(graph, stage)}
    data = data_stages(repo, root, experiments)
    return Snapshot(taken, [s.name for s in ordered], frozenset(pending), data)


def stage_state(
    name: str,
    shot: Snapshot,
    running: Mapping[str, dict],
    timings: Mapping[str, dict],
) -> Stage:
    timing = timings.get(name)
    last = timing["seconds"] if timing else None
    if name in running:
        record = running[name]
        return Stage(
            name, RUNNING, last, record.get("started"), record.get("epoch"), record.get("epochs")
        )
    # A stage that ended since DVC was asked is done, whatever DVC said then.
    done = name not in shot.pending or (timing is not None and timing["ended"] >= shot.taken)
    return Stage(name, DONE if done else PENDING, last)


def build(root: Path, shot: Snapshot, experiments: Sequence[str], lanes: int) -> PipelineStatus:
    running, timings = state.running_stages(root), state.durations(root)
    own = {s for e in experiments for s in own_stages(e)}
    data_names = {s for names in shot.data_of.values() for s in names}

    def states(names: Sequence[str]) -> list[Stage]:
        return [stage_state(n, shot, running, timings) for n in names]

    return PipelineStatus(
        experiments={
            e: states([s for s in own_stages(e) if s in shot.stages]) for e in experiments
        },
        data=states([s for s in shot.stages if s in data_names]),
        after=states([s for s in shot.stages if s not in data_names and s not in own]),
        data_of=shot.data_of,
        lanes=lanes,
        run=holder(root),
    )


def plan(root: Path) -> tuple[list[str], int]:
    """The experiments in their hinted order (`repro.first`, then as composed), and how
    many lanes run them."""
    params, repro = load_params_section("repro", root)
    return queue_order(list(params.experiments), list(repro.first)), int(repro.lanes)


def longest_first(order: Sequence[str], shot: Snapshot, timings: Mapping[str, dict]) -> list[str]:
    """The lanes' queue: the experiments with the most seconds of pending stages (their
    last runs' times) first, so no long one starts when the other lanes are nearly done.
    One with a pending stage never timed counts as longest; ties keep `order`, which is
    all there is to go by in a clean clone."""

    def seconds_left(experiment: str) -> float:
        pending = [s for s in own_stages(experiment) if s in shot.pending]
        if any(s not in timings for s in pending):
            return math.inf
        return sum(timings[s]["seconds"] for s in pending)

    return sorted(order, key=lambda experiment: -seconds_left(experiment))


def pipeline_status(root: Path) -> PipelineStatus:
    hinted, lanes = plan(root)
    shot = snapshot(root, hinted)
    experiments = longest_first(hinted, shot, state.durations(root))
    return build(root, shot, experiments, lanes)


def estimate(status: PipelineStatus) -> tuple[float, int]:
    """Replay what is left over the lanes: running experiments keep theirs, the rest go to
    the lane free first, in queue order; then the stages after every experiment."""
    unknown = 0

    def cost(stages: Sequence[Stage]) -> float:
        nonlocal unknown
        total = 0.0
        for stage in stages:
            left = stage.remaining(status.now)
            unknown += left is None
            total += left or 0.0
        return total

    data_left = {s.name: s for s in status.data if s.state != DONE}
    jobs = []  # (running now, seconds)
    for experiment, own in status.experiments.items():
        needs = [data_left.pop(n) for n in status.data_of.get(experiment, ()) if n in data_left]
        todo = [*needs, *(s for s in own if s.state != DONE)]
        if todo:
            jobs.append((any(s.state == RUNNING for s in todo), cost(todo)))
    lanes = [0.0] * max(status.lanes, 1)
    for _, seconds in sorted(jobs, key=lambda job: not job[0]):  # stable: queue order kept
        lanes[lanes.index(min(lanes))] += seconds
    rest = [*data_left.values(), *(s for s in status.after if s.state != DONE)]
    return max(lanes) + cost(rest), unknown
