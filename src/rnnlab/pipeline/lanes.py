"""`rnnlab repro` (what `make repro` runs): the pipeline in parallel lanes of `dvc repro`.

`dvc repro` runs one stage at a time, and each training process keeps about one core
busy (`trainer.threads`), so on a 2-core machine half of it idles. DVC's documented way to
run independent stages at once is several `dvc repro` processes with different targets
(https://dvc.org/doc/command-reference/repro#parallel-stage-execution); each releases the
repository lock while a stage's command runs and, with `--wait-for-lock`, waits for it
when it records the stage.

The lanes share one queue of experiments: a lane that finishes one takes the next, so
they end within about one experiment of each other whatever the experiments' lengths
(the queue starts the long ones first: pipeline.status.longest_first). Two lanes never
run the same stage: a lane first brings its experiment's data stages up to date, and an
experiment whose data stages another lane is still running waits, while the lane takes
the next one that is free.
Every lane command is `dvc repro --single-item` over the stages it owns, in dependency
order: a plain `dvc repro evaluate@x` would also re-check every upstream stage, and
checking a stage takes DVC's write lock on its outputs, which fails ("is busy") while
another lane's training reads them. One plain `dvc repro` follows for what comes after
every experiment (compare, promote) and checks that nothing was left out. The models are
the same bytes as those of a plain `dvc repro`: the lanes only change which stages overlap.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from rnnlab.errors import PipelineError
from rnnlab.logs import verbose_requested

log = logging.getLogger(__name__)
DVC_REPRO = ["dvc", "--wait-for-lock", "repro"]
UP_TO_DATE = re.compile(r"Stage '[^']+' didn't change, skipping$")


def queue_order(experiments: Sequence[str], first: Sequence[str]) -> list[str]:
    """The `first` experiments (the long ones) in their order, then the rest as composed."""
    return [e for e in first if e in experiments] + [e for e in experiments if e not in first]


def evaluate_stage(experiment: str) -> str:
    return f"evaluate@{experiment}"


class ExperimentQueue:
    """Hands experiments to lanes in order, never two lanes the same data stage at once.

    `data_stages[e]` are the stages upstream of e's training (download, parse, prepare),
    each after the stages it depends on.
    An experiment is free unless one of its data stages is upstream of an experiment whose
    data another lane is bringing up to date right now; a lane skips to the next free one
    and only waits when none is. Pure bookkeeping: the lanes run the commands.
    """

    def __init__(self, order: Iterable[str], data_stages: Mapping[str, Sequence[str]]):
        self.pending = list(order)
        self.data_stages = data_stages
        self.preparing: dict[str, list[str]] = {}  # experiment -> its data stages in flight
        self.ready: set[str] = set()  # data stages a lane brought up to date
        self.changed = threading.Condition()

    def take(self) -> tuple[str, list[str]] | None:
        """The next free experiment and those of its data stages not yet brought up to date
        in this run (in dependency order); waits while every pending one is blocked; None
        when none is left."""
        with self.changed:
            while self.pending:
                free = next((e for e in self.pending if not self.blocked(e)), None)
                if free is not None:
                    self.pending.remove(free)
                    self.preparing[free] = [
                        s for s in self.data_stages[free] if s not in self.ready
                    ]
                    return free, list(self.preparing[free])
                self.changed.wait()
            return None

    def blocked(self, experiment: str) -> bool:
        in_flight = set().union(*self.preparing.values())
        return bool((set(self.data_stages[experiment]) - self.ready) & in_flight)

    def data_done(self, experiment: str, ok: bool) -> None:
        """Its data stages finished: up to date if `ok`; if not, the next experiment that
        needs them runs them again (and reports the same failure in its own lane)."""
        with self.changed:
            stages = self.preparing.pop(experiment)
            if ok:
                self.ready.update(stages)
            self.changed.notify_all()

    def stop(self) -> None:
        """No more experiments (an interrupt): waiting lanes return None."""
        with self.changed:
            self.pending.clear()
            self.changed.notify_all()


def data_stages(repo, root: Path, experiments: Sequence[str]) -> dict[str, list[str]]:
    """Each experiment's stages upstream of its train stage, from DVC's own graph, each
    after those it depends on."""
    import networkx as nx

    stages = {}
    for name in experiments:
        # DVC resolves a bare stage name against the working directory's dvc.yaml.
        (evaluate,) = repo.stage.collect(f"{root / 'dvc.yaml'}:{evaluate_stage(name)}")
        # DVC's edges point from a stage to those it depends on: postorder puts them first.
        upstream = [stage.name for stage in nx.dfs_postorder_nodes(repo.index.graph, evaluate)]
        stages[name] = [s for s in upstream if s not in own_stages(name)]
    return stages


def train_stage(experiment: str) -> str:
    return f"train@{experiment}"


def own_stages(experiment: str) -> list[str]:
    """The stages an experiment's lane runs after its data, in order."""
    return [
        f"select@{experiment}",
        train_stage(experiment),
        f"package@{experiment}",
        evaluate_stage(experiment),
    ]


def nothing(stages: Sequence[str]) -> None:
    """No one to tell that stages are up to date."""


class Lanes:
    """`count` threads, each running `dvc repro` for the queue's experiments in turn;
    `on_done` hears of the stages each successful `dvc repro` brought up to date."""

    def __init__(
        self,
        root: Path,
        queue: ExperimentQueue,
        count: int,
        on_done: Callable[[Sequence[str]], None] = nothing,
    ):
        self.root, self.queue, self.count, self.on_done = root, queue, count, on_done
        self.failed: list[str] = []
        self.running: set[subprocess.Popen] = set()
        self.lock = threading.Lock()

    def run(self) -> None:
        threads = [
            threading.Thread(target=self.lane, args=(i + 1,), daemon=True)
            for i in range(self.count)
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.5)  # a bare join() would defer Ctrl-C until the end
        except BaseException:  # an interrupt stops every lane, not only the foreground one
            self.queue.stop()
            self.terminate()
            raise
        if self.failed:
            raise PipelineError(
                f"dvc repro failed for {', '.join(self.failed)}: see the [lane N] lines "
                "above; stages that finished are recorded, so `make repro` again resumes "
                "from the failure"
            )

    def lane(self, number: int) -> None:
        prefix = f"[lane {number}] "
        while (taken := self.queue.take()) is not None:
            experiment, stages = taken
            self.say(prefix, f"experiment {experiment}\n")
            ok = not stages or self.dvc_repro(stages, prefix)
            self.queue.data_done(experiment, ok)
            if not (ok and self.dvc_repro(own_stages(experiment), prefix)):
                with self.lock:
                    self.failed.append(f"{experiment} (lane {number})")

    def dvc_repro(self, stages: Sequence[str], prefix: str) -> bool:
        """Runs exactly `stages`, in their order, locking only their own deps and outs."""
        process = subprocess.Popen(
            [*DVC_REPRO, "--single-item", *stages],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        with self.lock:
            self.running.add(process)
        for line in process.stdout:
            self.say(prefix, line)
        code = process.wait()
        with self.lock:
            self.running.discard(process)
        if code == 0:
            self.on_done(stages)
        return code == 0

    def say(self, prefix: str, line: str) -> None:
        with self.lock:  # whole lines: two lanes' output never interleaves mid-line
            sys.stdout.write(prefix + line)
            sys.stdout.flush()

    def terminate(self) -> None:
        with self.lock:
            running = list(self.running)
        for process in running:
            if process.poll() is None:
                process.terminate()
                process.wait()


def repro(
    root: Path,
    order: Sequence[str],
    lanes: int,
    data: Mapping[str, Sequence[str]],
    on_done: Callable[[Sequence[str]], None] = nothing,
) -> None:
    """The experiments in `lanes` lanes, taken in `order` (`data`: each one's data stages,
    data_stages), then one plain `dvc repro` for what comes after them."""
    if lanes > 1:
        log.info("%d lanes over: %s", lanes, ", ".join(order))
        Lanes(root, ExperimentQueue(order, data), min(lanes, len(order)), on_done).run()
    run(DVC_REPRO, root)


def run(cmd: list[str], root: Path) -> None:
    """`cmd`, its output passed on but for DVC's line on each stage the lanes brought up
    to date (shown with -v)."""
    show_all = verbose_requested(False)
    process = subprocess.Popen(
        cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    for line in process.stdout:
        if show_all or not UP_TO_DATE.match(line):
            sys.stdout.write(line)
            sys.stdout.flush()
    if process.wait():
        raise PipelineError(f"`{' '.join(cmd)}` failed (its output is above)")
