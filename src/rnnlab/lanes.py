"""`rnnlab repro` (what `make repro` runs): the pipeline in parallel lanes of `dvc repro`.

`dvc repro` runs one stage at a time, and each training process keeps about one core
busy (`trainer.threads`), so on a 2-core machine half of it idles. DVC's documented way to
run independent stages at once is several `dvc repro` processes with different targets
(https://dvc.org/doc/command-reference/repro#parallel-stage-execution); each releases the
repository lock while a stage's command runs and, with `--wait-for-lock`, waits for it
when it records the stage. Lanes never share a stage: the stages upstream of two lanes run
first, then the lanes side by side, then one plain `dvc repro` for what follows them all
(compare, promote), which also checks that nothing was left out.

`repro.own_lane` names the long experiments (the character models); they take the first
`repro.lanes - 1` lanes and the other experiments share the last. The models are the same
bytes as those of a plain `dvc repro`: the lanes only change which stages overlap.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rnnlab.errors import PipelineError

log = logging.getLogger(__name__)
DVC_REPRO = ["dvc", "--wait-for-lock", "repro"]


def plan_lanes(experiments: Sequence[str], lanes: int, own_lane: Sequence[str]) -> list[list[str]]:
    """Experiments per lane: the own-lane ones spread over the first lanes - 1, the rest in
    the last. One lane (everything) when there is nothing to run beside the rest."""
    long = [e for e in experiments if e in own_lane]
    rest = [e for e in experiments if e not in own_lane]
    if lanes < 2 or not long or not rest:
        return [list(experiments)]
    dedicated = min(lanes - 1, len(long))
    return [long[i::dedicated] for i in range(dedicated)] + [rest]


def lane_targets(lane: Sequence[str]) -> list[str]:
    """Each experiment's last stage; `dvc repro` brings in everything upstream of it."""
    return [f"evaluate@{name}" for name in lane]


def shared_upstream(root: Path, lanes: Sequence[Sequence[str]]) -> list[str]:
    """Stages that two lanes would both run (a shared download or dataset variant)."""
    from dvc.repo import Repo

    lanes_of: Counter[str] = Counter()
    with Repo(str(root)) as repo:
        for lane in lanes:
            # DVC resolves a bare stage name against the working directory's dvc.yaml.
            found = {
                stage.name
                for target in lane_targets(lane)
                for stage in repo.stage.collect(f"{root / 'dvc.yaml'}:{target}", with_deps=True)
            }
            lanes_of.update(found)
    return sorted(stage for stage, count in lanes_of.items() if count > 1)


def run_lanes(root: Path, lanes: Sequence[Sequence[str]]) -> None:
    """Every lane's `dvc repro` at once, output prefixed by lane; failures reported after all
    lanes stop (a finished stage of a failed lane is recorded, so a re-run skips it)."""
    processes = [
        subprocess.Popen(
            [*DVC_REPRO, *lane_targets(lane)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for lane in lanes
    ]
    readers = [
        threading.Thread(target=echo, args=(p.stdout, f"[lane {i + 1}] "), daemon=True)
        for i, p in enumerate(processes)
    ]
    try:
        for reader in readers:
            reader.start()
        codes = [p.wait() for p in processes]
    finally:  # an interrupt stops every lane, not only the one in the foreground
        for p in processes:
            if p.poll() is None:
                p.terminate()
                p.wait()
    for reader in readers:
        reader.join()
    failed = [f"lane {i + 1} ({', '.join(lanes[i])})" for i, c in enumerate(codes) if c]
    if failed:
        raise PipelineError(
            f"dvc repro failed in {'; '.join(failed)}: see the [lane N] lines above; stages "
            "that finished are recorded, so `make repro` again resumes from the failure"
        )


def echo(stream, prefix: str) -> None:
    for line in stream:
        sys.stdout.write(prefix + line)
        sys.stdout.flush()


def up_to_date(root: Path) -> bool:
    """No stage changed: a no-op `make repro` costs one status check, not three `dvc repro`s."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return not repo.status()


def repro(root: Path, experiments: Sequence[str], lanes: int, own_lane: Sequence[str]) -> None:
    if up_to_date(root):
        print("Data and pipelines are up to date.")
        return
    plan = plan_lanes(experiments, lanes, own_lane)
    if len(plan) > 1:
        shared = shared_upstream(root, plan)
        if shared:
            log.info("stages upstream of several lanes first: %s", ", ".join(shared))
            run([*DVC_REPRO, *shared], root)
        log.info("lanes: %s", " | ".join(", ".join(lane) for lane in plan))
        run_lanes(root, plan)
    run(DVC_REPRO, root)


def run(cmd: list[str], root: Path) -> None:
    if subprocess.run(cmd, cwd=root).returncode:
        raise PipelineError(f"`{' '.join(cmd)}` failed (its output is above)")
