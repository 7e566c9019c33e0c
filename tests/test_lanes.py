"""`rnnlab repro` (make repro): the pipeline in parallel lanes of `dvc repro`.

The whole pipeline through `rnnlab repro` runs in tests/test_pipeline_e2e.py."""

import subprocess
import threading
from pathlib import Path

import pytest
from dvc.repo import Repo
from dvc.rwlock import rwlock

from rnnlab.errors import PipelineError
from rnnlab.pipeline.compose import compose_params
from rnnlab.pipeline.lanes import (
    ExperimentQueue,
    Lanes,
    data_stages,
    own_stages,
    queue_order,
)

from .test_pipeline_e2e import fast_overrides

IMDB = ["download@imdb", "parse_imdb"]
DATA = {  # each experiment's data stages, each after those it depends on
    "char": ["download@shakespeare", "prepare_shakespeare@chars"],
    "lstm": [*IMDB, "prepare_imdb@w2v"],
    "pool": [*IMDB, "prepare_imdb@len800"],
    "nb": [*IMDB, "prepare_imdb@len800"],
    "sine": ["prepare_sine@book"],
}


def test_the_long_experiments_go_first_then_the_rest_as_composed() -> None:
    composed = ["pool", "char", "lstm", "sine"]
    assert queue_order(composed, ["char", "seed_char", "lstm"]) == ["char", "lstm", "pool", "sine"]
    assert queue_order(composed, []) == composed


def take_in_background(queue: ExperimentQueue) -> tuple[threading.Thread, list]:
    got: list = []
    thread = threading.Thread(target=lambda: got.append(queue.take()), daemon=True)
    thread.start()
    thread.join(timeout=0.3)
    return thread, got


def test_a_lane_skips_experiments_whose_data_another_lane_is_preparing() -> None:
    queue = ExperimentQueue(["char", "lstm", "pool", "nb", "sine"], DATA)
    assert queue.take() == ("char", list(DATA["char"]))
    assert queue.take() == ("lstm", list(DATA["lstm"]))
    # pool and nb need the IMDB download that the second lane is running: sine is free.
    assert queue.take() == ("sine", ["prepare_sine@book"])
    waiting, got = take_in_background(queue)
    assert waiting.is_alive() and not got  # every pending experiment is blocked
    queue.data_done("lstm", ok=True)
    waiting.join(timeout=5)
    # The shared download and parse are up to date now: pool prepares only its variant.
    assert got == [("pool", ["prepare_imdb@len800"])]
    waiting, got = take_in_background(queue)
    assert waiting.is_alive()  # nb shares pool's variant, still being prepared
    queue.data_done("pool", ok=True)
    waiting.join(timeout=5)
    assert got == [("nb", [])]
    assert queue.take() is None


def test_data_stages_that_failed_are_run_again_by_the_next_experiment() -> None:
    queue = ExperimentQueue(["pool", "nb"], DATA)
    assert queue.take() == ("pool", list(DATA["pool"]))
    queue.data_done("pool", ok=False)
    assert queue.take() == ("nb", list(DATA["nb"]))


def test_stop_releases_a_waiting_lane() -> None:
    queue = ExperimentQueue(["pool", "nb"], DATA)
    queue.take()
    waiting, got = take_in_background(queue)
    queue.stop()
    waiting.join(timeout=5)
    assert got == [None]


def test_data_stages_come_from_dvcs_graph(project: Path) -> None:
    compose_params([], project)
    with Repo(str(project)) as repo:
        stages = data_stages(repo, project, ["imdb_pool", "imdb_naive_bayes", "sine_lstm"])
    pool, nb = stages["imdb_pool"], stages["imdb_naive_bayes"]
    # In dependency order, as `dvc repro --single-item` needs them.
    assert pool[:2] == IMDB and nb[:2] == IMDB
    assert pool[2:] == ["prepare_imdb@v30k_len800"]
    assert nb[2:] == ["prepare_imdb@v100k_len1000_punct"]
    assert stages["sine_lstm"] and not set(stages["sine_lstm"]) & set(pool)


def test_a_failed_experiment_is_named_after_the_other_lane_finishes(
    project: Path, capsys: pytest.CaptureFixture
) -> None:
    compose_params(fast_overrides(project), project)
    with Repo(str(project)) as repo:
        stages = {"no_such_experiment": [], **data_stages(repo, project, ["sine_lstm"])}
    queue = ExperimentQueue(["no_such_experiment", "sine_lstm"], stages)
    done: list[list[str]] = []
    with pytest.raises(PipelineError, match=r"failed for no_such_experiment \(lane \d\): see"):
        Lanes(project, queue, 2, on_done=lambda names: done.append(list(names))).run()
    out = capsys.readouterr().out
    assert "Running stage 'train@sine_lstm'" in out  # the other lane ran to its end
    assert (project / "metrics" / "sine_lstm.json").is_file()
    # The run view hears of what the other lane brought up to date, and only that.
    assert done == [stages["sine_lstm"], own_stages("sine_lstm")]


def test_a_lane_never_locks_the_data_another_lane_is_training_on(project: Path) -> None:
    """The race of a full run: lane 1 went on to an experiment whose data lane 2 had
    prepared while lane 2's training read that data; `dvc repro evaluate@x` re-checked
    the prepare stage, which takes DVC's write lock on its output: "... is busy"."""
    compose_params(fast_overrides(project), project)
    with Repo(str(project)) as repo:
        stages = data_stages(repo, project, ["sine_lstm"])
    assert subprocess.run(["dvc", "repro", *stages["sine_lstm"]], cwd=project).returncode == 0
    queue = ExperimentQueue(["sine_lstm"], stages)
    queue.ready |= set(stages["sine_lstm"])  # another lane prepared them in this run
    prepared = str(project / "data" / "prepared")
    # What the other lane's `train` holds while it runs: a read lock on its data.
    with (
        Repo(str(project)) as repo,
        rwlock(repo.tmp_dir, repo.fs, "dvc repro train@other", [prepared], [], False),
    ):
        Lanes(project, queue, 1).run()
    assert (project / "metrics" / "sine_lstm.json").is_file()
