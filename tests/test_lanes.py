"""`rnnlab repro` (make repro): the pipeline in parallel lanes of `dvc repro`.

The whole pipeline through `rnnlab repro` runs in tests/test_pipeline_e2e.py."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rnnlab.compose import compose_params
from rnnlab.errors import PipelineError
from rnnlab.lanes import plan_lanes, run_lanes, shared_upstream

from .conftest import REPO
from .test_pipeline_e2e import fast_overrides

LONG = ["shakespeare_char_gru", "seed004_char_simplernn"]


def test_long_experiments_get_lanes_of_their_own_and_the_rest_share_the_last() -> None:
    tuned = ["imdb_pool", "shakespeare_char_gru", "sine_lstm"]
    assert plan_lanes(tuned, 2, LONG) == [["shakespeare_char_gru"], ["imdb_pool", "sine_lstm"]]
    both = ["imdb_pool", *LONG]
    assert plan_lanes(both, 2, LONG) == [LONG, ["imdb_pool"]]
    assert plan_lanes(both, 3, LONG) == [[LONG[0]], [LONG[1]], ["imdb_pool"]]


@pytest.mark.parametrize(
    ("experiments", "lanes"),
    [(["imdb_pool", "sine_lstm"], 2), (["shakespeare_char_gru"], 2), (["imdb_pool", *LONG], 1)],
)
def test_one_lane_when_nothing_runs_beside_the_rest(experiments: list[str], lanes: int) -> None:
    assert plan_lanes(experiments, lanes, LONG) == [experiments]


def test_stages_upstream_of_two_lanes_are_found(project: Path) -> None:
    compose_params([], project)
    shared = shared_upstream(project, [["imdb_pool"], ["imdb_naive_bayes"], ["sine_lstm"]])
    assert {"download@imdb", "parse_imdb"} <= set(shared)
    assert not any("sine" in stage or stage.startswith("train@") for stage in shared)
    assert shared_upstream(project, [["shakespeare_char_gru"], ["imdb_pool", "sine_lstm"]]) == []


def test_a_failing_lane_is_named_after_the_others_finish(
    project: Path, capsys: pytest.CaptureFixture
) -> None:
    compose_params(fast_overrides(project), project)
    with pytest.raises(PipelineError, match=r"lane 1 \(no_such_experiment\)"):
        run_lanes(project, [["no_such_experiment"], ["sine_lstm"]])
    out = capsys.readouterr().out
    assert "[lane 2] Running stage 'train@sine_lstm'" in out  # the other lane ran to its end
    assert (project / "metrics" / "sine_lstm.json").is_file()


def test_the_quick_profile_splits_its_short_experiments_about_evenly(tmp_path: Path) -> None:
    params = OmegaConf.load(compose_params(["profile=quick"], REPO, tmp_path / "params.yaml"))
    plan = plan_lanes(list(params.experiments), params.repro.lanes, params.repro.own_lane)
    assert [len(lane) for lane in plan] == [5, 6]
    full = OmegaConf.load(compose_params([], REPO, tmp_path / "full.yaml"))
    assert plan_lanes(list(full.experiments), full.repro.lanes, full.repro.own_lane)[0] == [
        "shakespeare_char_gru"
    ]
