"""End-to-end `dvc repro` of the whole pipeline on tiny generated data, fast profile.

It runs the smoke suite (one experiment per task), so every stage type runs for every task;
every experiment config of every suite is trained by tests/test_experiments.py.
"""

import json
import re
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from omegaconf import OmegaConf

from rnnlab.data.predictions import read_predictions
from rnnlab.pipeline.compose import compose_params

from .conftest import run

FAST = {"epochs": 1, "steps_per_epoch": 2, "validation_steps": 1, "batch_size": 8}
SUITE = "suite=smoke"


def fast_overrides(project: Path, extra: list[str] = ()) -> list[str]:
    compose_params([SUITE], project)
    experiments = OmegaConf.load(project / "params.yaml").experiments
    overrides = [
        f"experiments.{key}.trainer.{k}={v}" for key in experiments for k, v in FAST.items()
    ]
    return [SUITE, *overrides, *extra]


def assert_predictions_agree_with_metrics(project: Path, experiments: list[str]) -> None:
    """Each evaluate stage wrote its model's output per held-out example, and its metrics
    follow from those outputs."""
    metrics = {e: json.loads((project / "metrics" / f"{e}.json").read_text()) for e in experiments}
    imdb = read_predictions(project / "predictions" / "imdb_pool.csv")
    assert len(imdb) == metrics["imdb_pool"]["test_examples"] and set(imdb["target"]) == {0, 1}
    accuracy = np.mean((imdb["output"] >= 0.5) == imdb["target"])
    assert accuracy == metrics["imdb_pool"]["test_accuracy"]
    char = read_predictions(project / "predictions" / "shakespeare_char_gru.csv")
    assert len(char) == metrics["shakespeare_char_gru"]["val_characters"]
    nats = -np.log(char["output"]).mean()  # output: P(the true character)
    assert nats == pytest.approx(metrics["shakespeare_char_gru"]["val_loss_nats"], rel=1e-9)
    sine = read_predictions(project / "predictions" / "sine_lstm.csv")
    rmse = np.sqrt(np.mean((sine["output"] - sine["target"]) ** 2))
    assert rmse == pytest.approx(metrics["sine_lstm"]["test_rmse"], rel=1e-6)


def ran_stages(stdout: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", stdout))


# Five to nine minutes on a 2 vCPU EPYC: alone it would hold the default suite past ten.
@pytest.mark.slow
def test_whole_pipeline_reproduces_then_reruns_only_what_changed(project: Path) -> None:
    compose_params(fast_overrides(project), project)
    first = run(["rnnlab", "repro"], project)  # what `make repro` runs: two lanes
    experiments = sorted(OmegaConf.load(project / "params.yaml").experiments)
    assert experiments == ["imdb_pool", "shakespeare_char_gru", "sine_lstm"]
    assert {f"train@{e}" for e in experiments} <= ran_stages(first.stdout)
    ran_in = re.findall(r"^\[lane (\d)\] Running stage '([^']+)'", first.stdout, re.M)
    stages = [stage for _, stage in ran_in]
    assert len(stages) == len(set(stages))  # no stage ran twice, in one lane or two
    lane = {stage: number for number, stage in ran_in}
    taken = re.findall(r"^\[lane (\d)\] experiment (\S+)$", first.stdout, re.M)
    assert sorted(e for _, e in taken) == experiments and {n for n, _ in taken} == {"1", "2"}
    for number, experiment in taken:  # an experiment stays in the lane that took it
        assert lane[f"train@{experiment}"] == lane[f"evaluate@{experiment}"] == number
    assert lane["parse_imdb"] == lane["train@imdb_pool"]
    after_lanes = first.stdout[first.stdout.rindex("[lane ") :]
    assert {"compare", "promote"} == ran_stages(after_lanes)  # after both lanes

    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    shown = {Path(p).stem for p in next(iter(metrics.values()))["data"]}
    assert shown == set(experiments)
    imdb = json.loads((project / "metrics" / "imdb_pool.json").read_text())
    assert 0 <= imdb["test_accuracy"] <= 1 and imdb["test_examples"] == 40
    char = json.loads((project / "metrics" / "shakespeare_char_gru.json").read_text())
    assert char["val_bits_per_char"] > 0
    assert (
        (project / "plots" / "shakespeare_char_gru" / "eval" / "sample.txt")
        .read_text()
        .startswith("ROMEO:")
    )
    assert_predictions_agree_with_metrics(project, experiments)
    assert (project / "models" / "sine_lstm" / "model.keras").is_file()
    assert (project / "serving" / "sine_lstm" / "MLmodel").is_file()
    # imdb_pool refits on train+val (trainer.refit): select@ chose its epochs on validation
    # (a record kept in git), train@ refit for them (its history has no validation).
    selection = json.loads((project / "selection" / "imdb_pool.json").read_text())
    assert selection["refit"] and selection["epochs"] == 1
    assert "val_loss" in selection["history"][0]
    refit = (project / "plots" / "imdb_pool" / "history.csv").read_text().splitlines()
    assert refit[0] == "epoch,accuracy,loss" and len(refit) == 2
    assert not json.loads((project / "selection" / "sine_lstm.json").read_text())["refit"]

    leaderboard = (project / "reports" / "leaderboard.md").read_text()
    assert all(f"| {e} |" in leaderboard for e in experiments)
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    parents = runs[runs["tags.mlflow.runName"].str.startswith("pipeline ")]
    trained = runs.drop(parents.index)
    assert sorted(trained["tags.mlflow.runName"]) == experiments
    assert set(trained["tags.dvc.evaluate_stage"]) == {f"evaluate@{e}" for e in experiments}
    # One reproduction in MLflow: every run it trained carries its id, under its parent run
    # in each MLflow experiment.
    (pipeline,) = set(runs["tags.rnnlab.pipeline_id"])
    assert f"pipeline {pipeline}: 20 stages to run" in first.stdout
    assert len(parents) == 3 and set(parents["status"]) == {"FINISHED"}
    parent_of = dict(zip(parents["experiment_id"], parents["run_id"], strict=True))
    assert [parent_of[e] for e in trained["experiment_id"]] == list(
        trained["tags.mlflow.parentRunId"]
    )
    # Where it stands, in plain lines off a terminal; and each stage's time afterwards.
    assert re.search(r"^\[status\] \d+ of 20 stages done; running: .*train@", first.stdout, re.M)
    assert "[status] 20 of 20 stages done; running: none" in first.stdout
    assert "didn't change, skipping" not in first.stdout
    done = run(["rnnlab", "status"], project).stdout
    assert "Everything is up to date: 20 of 20 stages done." in done
    assert all(re.search(rf"^{e}( +done \d+(m\d\d)?s){{4}} *$", done, re.M) for e in experiments)

    promoted = json.loads((project / "reports" / "promotion.json").read_text())
    assert sorted(d["task"] for d in promoted) == ["imdb", "shakespeare", "sine"]
    assert all(d["promoted"] and d["reason"] == "no champion yet" for d in promoted)

    started = time.perf_counter()
    assert ran_stages(run(["dvc", "repro"], project).stdout) == set()
    assert time.perf_counter() - started < 10
    noop = run(["rnnlab", "repro"], project).stdout  # make repro: one status check, no lanes
    assert "Data and pipelines are up to date." in noop and "[lane" not in noop

    compose_params(
        fast_overrides(project, ["experiments.imdb_pool.trainer.learning_rate=0.01"]), project
    )
    rerun = ran_stages(run(["dvc", "repro"], project).stdout)
    imdb_pool = {f"{stage}@imdb_pool" for stage in ("select", "train", "package", "evaluate")}
    assert rerun == imdb_pool | {"compare", "promote"}  # a changed experiment chooses again

    # A fix to a serving wrapper repackages; it retrains nothing.
    wrapper = project / "src" / "rnnlab" / "tasks" / "imdb" / "serve.py"
    wrapper.write_text(wrapper.read_text() + "\n# a fix to the wrapper\n")
    status = run(["dvc", "status"], project).stdout
    assert "package@imdb_pool" in status and "train@" not in status and "select@" not in status
    assert ran_stages(run(["dvc", "repro"], project).stdout) == {"package@imdb_pool", "promote"}

    # A retrain that reproduces the last scores (a fresh clone reproducing the committed
    # figures, a deterministic rerun) is still a new MLflow run: promotion must see it.
    before = json.loads((project / "metrics" / "imdb_pool.json").read_text())
    run(["dvc", "repro", "--force", "--single-item", "train@imdb_pool"], project)
    again = ran_stages(run(["dvc", "repro"], project).stdout)
    after = json.loads((project / "metrics" / "imdb_pool.json").read_text())
    assert after["test_accuracy"] == before["test_accuracy"]
    assert again == {"package@imdb_pool", "evaluate@imdb_pool", "compare", "promote"}
    assert after["mlflow_run_id"] != before["mlflow_run_id"]

    # DVC users' habits: every learning curve on one page, the metrics as columns.
    run(["dvc", "plots", "show", "-o", "dvc_plots"], project)
    page = (project / "dvc_plots" / "index.html").read_text()
    assert all(f"plots/{e}/history.csv" in page for e in experiments)
    run(["git", "add", "-A"], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "run"], project)
    header = run(["dvc", "exp", "show", "--csv"], project).stdout.splitlines()[0].split(",")
    assert {"test_accuracy", "val_bits_per_char", "test_rmse"} <= set(header)
