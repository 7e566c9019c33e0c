"""`rnnlab repro` (make repro): the pipeline in parallel lanes of `dvc repro`."""

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rnnlab.compose import compose_params
from rnnlab.errors import PipelineError
from rnnlab.lanes import plan_lanes, run_lanes, shared_upstream

from .conftest import run
from .test_pipeline_e2e import fast_overrides, ran_stages

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


def test_make_repro_runs_the_lanes_side_by_side_then_what_follows_them(project: Path) -> None:
    compose_params(fast_overrides(project), project)
    out = run(["rnnlab", "repro"], project).stdout
    lane = {
        stage: number
        for number, stage in re.findall(r"^\[lane (\d)\] Running stage '([^']+)'", out, re.M)
    }
    assert lane["train@shakespeare_char_gru"] == lane["evaluate@shakespeare_char_gru"] == "1"
    assert lane["train@imdb_pool"] == lane["train@sine_lstm"] == lane["parse_imdb"] == "2"
    last = out[out.rindex("[lane ") :]
    assert {"compare", "promote"} <= ran_stages(last)  # after both lanes, in the final repro
    experiments = OmegaConf.load(project / "params.yaml").experiments
    assert all((project / "metrics" / f"{e}.json").is_file() for e in experiments)
    assert ran_stages(run(["dvc", "repro"], project).stdout) == set()  # all recorded
