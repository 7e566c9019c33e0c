"""`rnnlab repro` (make repro): one reproduction of the pipeline, held, named and watched.

It holds the checkout's run lock (pipeline.run_lock), so a second run fails at once; gives
the reproduction an id that every MLflow run it trains carries as a tag, under one parent
run per MLflow experiment (tracking.runs); runs the lanes (pipeline.lanes) and keeps the
status in view while they run (pipeline.watch).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rnnlab.config.settings import load_params_section
from rnnlab.pipeline import lanes as lanes_module
from rnnlab.pipeline.run_lock import run_lock
from rnnlab.pipeline.status import longest_first, snapshot
from rnnlab.pipeline.watch import RunView
from rnnlab.tracking import runs as tracking
from rnnlab.tracking import state


def new_pipeline_id() -> str:
    """Readable and unique enough: when it started, and a random suffix for two clones
    that log to one tracking server."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@contextmanager
def pipeline_runs(root: Path, tasks: Sequence[str]) -> Iterator[str]:
    """The reproduction's id and its parent runs, exported to the stages `dvc repro`
    starts; the parents end FINISHED or FAILED with the block."""
    pipeline = os.environ.get(tracking.PIPELINE_ENV) or new_pipeline_id()
    parents = tracking.start_pipeline_runs(root, list(tasks), pipeline) if tasks else {}
    saved = {k: os.environ.get(k) for k in (tracking.PIPELINE_ENV, tracking.PIPELINE_PARENTS_ENV)}
    os.environ[tracking.PIPELINE_ENV] = pipeline
    os.environ[tracking.PIPELINE_PARENTS_ENV] = json.dumps(parents)
    ok = False
    try:
        yield pipeline
        ok = True
    finally:
        tracking.end_pipeline_runs(parents, ok)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def reproduce(root: Path, lanes: int | None = None) -> None:
    params, plan = load_params_section("repro", root)  # a stale params.yaml: "run compose"
    experiments = list(params.experiments)
    lanes = plan.lanes if lanes is None else lanes
    hinted = lanes_module.queue_order(experiments, list(plan.first))
    with run_lock(root):
        shot = snapshot(root, experiments)
        if not shot.pending:  # a no-op `make repro` costs one status check
            print("Data and pipelines are up to date.")
            return
        order = longest_first(hinted, shot, state.durations(root))
        training = [e for e in experiments if lanes_module.train_stage(e) in shot.pending]
        tasks = [params.experiments[e].dataset.task for e in training]
        with pipeline_runs(root, tasks) as pipeline, RunView(root, order, lanes, shot) as view:
            print(f"pipeline {pipeline}: {len(shot.pending)} stages to run", flush=True)
            lanes_module.repro(root, order, lanes, shot.data_of, view.done)
            view.done(shot.pending)  # the last `dvc repro` checked every stage
