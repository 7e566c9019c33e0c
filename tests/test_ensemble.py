"""The ensemble stage: members stacked on their validation outputs, scored on their written
held-out predictions, logged as its own MLflow run, served as one raw-text model, ranked and
promoted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from omegaconf import DictConfig, OmegaConf

from rnnlab.data.predictions import read_predictions, write_predictions
from rnnlab.errors import ConfigError, DataError
from rnnlab.models.stacking import Stacking, cross_validated_accuracy, fit_stacking, log_odds
from rnnlab.pipeline.compose import compose_params
from rnnlab.pipeline.ensemble import EnsembleSpec, held_out_outputs
from rnnlab.tasks.imdb import predicted_labels

from .conftest import REPO, review_text, run
from .test_pipeline_e2e import FAST, ran_stages

MEMBERS = ["imdb_pool", "imdb_naive_bayes"]
STAGE = "ensemble@imdb_ensemble"
MEMBER_STAGES = ("package", "evaluate")  # with their upstream: select, train
ENSEMBLE = [
    "suite=smoke",
    "+experiment@experiments.imdb_naive_bayes=imdb_naive_bayes",
    "+dataset@datasets.imdb.v100k_len1000_punct=imdb_v100k_len1000_punct",
    "+ensemble@ensembles.imdb_ensemble=imdb_ensemble",
    f"ensembles.imdb_ensemble.members=[{','.join(MEMBERS)}]",
    *(f"experiments.{m}.trainer.{k}={v}" for m in MEMBERS for k, v in FAST.items()),
]


def members_probabilities(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """An informative member (right 85% of the time, confident) and a coin-flip one."""
    right = rng.random(len(labels)) < 0.85
    sure = np.where(right, labels, 1 - labels) * 0.8 + 0.1
    return np.column_stack([sure, rng.random(len(labels))])


def test_stacking_trusts_the_informative_member_and_combines_as_it_was_fitted() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    probabilities = members_probabilities(rng, labels)
    stacking = fit_stacking(probabilities, labels, regularization=1.0)
    informative, noise = stacking.weights
    # Calibrated: a member right 85% of the time at p=0.9 deserves log-odds log(0.85/0.15),
    # i.e. weight log(0.85/0.15) / log(0.9/0.1) = 0.79; the coin flip deserves none.
    assert informative == pytest.approx(np.log(0.85 / 0.15) / np.log(9), abs=0.08)
    assert abs(noise) < 0.1
    combined = stacking.combine(probabilities)
    expected = 1 / (1 + np.exp(-(stacking.intercept + log_odds(probabilities) @ stacking.weights)))
    np.testing.assert_allclose(combined, expected)
    assert ((combined >= 0.5) == labels).mean() == pytest.approx(0.85, abs=0.03)
    assert 0.8 < cross_validated_accuracy(probabilities, labels, 1.0) < 0.9
    assert Stacking.from_dict(json.loads(json.dumps(stacking.to_dict()))) == stacking
    with pytest.raises(ValueError, match=r"expected \(examples, 2\) probabilities"):
        stacking.combine(probabilities[:, :1])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["ensembles.imdb_ensemble.members=[imdb_pool,imdb_lstm]"],
            "member 'imdb_lstm' is not an experiment of this suite",
        ),
        (
            ["ensembles.imdb_ensemble.members=[imdb_pool,sine_lstm]"],
            "is for the imdb task, but member 'sine_lstm' is a sine experiment",
        ),
        (
            ["experiments.imdb_naive_bayes.trainer.refit=false"],
            "member 'imdb_naive_bayes' does not refit (trainer.refit=false)",
        ),
        (["ensembles.imdb_ensemble.members=[imdb_pool]"], "name at least two different members"),
        (["+ensembles.imdb_ensemble.weighting=mean"], "unknown settings ['weighting']"),
    ],
)
def test_compose_refuses_an_ensemble_it_cannot_build(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match="ensemble 'imdb_ensemble'") as error:
        compose_params([*ENSEMBLE, *overrides], REPO, tmp_path / "params.yaml")
    assert message in str(error.value)


def written_predictions(root: Path, targets: dict[str, list[int]]) -> dict[str, DictConfig]:
    """Members' configs (what held_out_outputs reads of them) and their predictions files,
    one per member with the given targets."""
    paths = OmegaConf.load(REPO / "conf" / "paths" / "default.yaml")
    members = {}
    for name, target in targets.items():
        members[name] = OmegaConf.create({"name": name, "paths": paths, "dataset": {"name": "d"}})
        frame = pd.DataFrame({"target": target, "output": np.linspace(0.1, 0.9, len(target))})
        write_predictions(frame, root / "predictions" / f"{name}.csv")
    return members


def test_held_out_outputs_are_the_members_written_predictions(tmp_path: Path) -> None:
    members = written_predictions(tmp_path, {"a": [1, 0, 1], "b": [1, 0, 1]})
    spec = EnsembleSpec("duo", "imdb", ("a", "b"))
    outputs, labels = held_out_outputs(spec, members, tmp_path)
    np.testing.assert_array_equal(outputs, np.column_stack([np.linspace(0.1, 0.9, 3)] * 2))
    assert labels.tolist() == [1, 0, 1]


def test_held_out_outputs_name_the_missing_or_mismatched_member(tmp_path: Path) -> None:
    spec = EnsembleSpec("duo", "imdb", ("a", "b"))
    members = written_predictions(tmp_path, {"a": [1, 0, 1], "b": [1, 1, 1]})
    with pytest.raises(DataError, match=r"member 'b' was scored on other examples than 'a'"):
        held_out_outputs(spec, members, tmp_path)
    (tmp_path / "predictions" / "b.csv").unlink()
    with pytest.raises(DataError, match=r"member 'b' has no held-out predictions") as error:
        held_out_outputs(spec, members, tmp_path)
    assert "dvc repro evaluate@b" in str(error.value)


def served(model_dir: Path, texts: list[str]) -> pd.DataFrame:
    return mlflow.pyfunc.load_model(str(model_dir)).predict(pd.DataFrame({"text": texts}))


def test_ensemble_stage_stacks_registers_serves_and_competes(project: Path) -> None:
    compose_params(ENSEMBLE, project)
    # The members, then the ensemble alone (-s): its folder deps would otherwise train the
    # other tasks' experiments too, which this test does not need.
    run(["dvc", "repro", *(f"{stage}@{m}" for m in MEMBERS for stage in MEMBER_STAGES)], project)
    first = run(["dvc", "repro", "-s", STAGE], project)
    assert ran_stages(first.stdout) == {STAGE}
    # compare and promote as their stages run them (the other tasks' experiments untrained).
    run(["rnnlab", "compare"], project)
    run(["rnnlab", "promote"], project)

    metrics = json.loads((project / "metrics" / "imdb_ensemble.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["test_examples"] == 40
    assert 0 <= metrics["val_accuracy"] <= 1
    assert (project / "plots" / "imdb_ensemble" / "eval" / "roc.png").is_file()

    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    ensemble_run = client.get_run(metrics["mlflow_run_id"])
    tags, params = ensemble_run.data.tags, ensemble_run.data.params
    assert tags["mlflow.runName"] == "imdb_ensemble" and tags["task"] == "imdb"
    assert tags["ensemble.members"] == ",".join(MEMBERS)
    for member in MEMBERS:  # the members' own runs, as their evaluate stages name them
        member_metrics = json.loads((project / "metrics" / f"{member}.json").read_text())
        assert tags[f"ensemble.member.{member}.run_id"] == member_metrics["mlflow_run_id"]
    member_eval = client.get_run(member_metrics["mlflow_run_id"]).data.tags["eval.data"]
    assert tags["eval.data"] == member_eval  # comparable with the members' scores
    assert ensemble_run.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    weights = [float(params[f"weight.{m}"]) for m in MEMBERS]
    stacking = Stacking(tuple(weights), float(params["intercept"]))

    # Scored on the outputs the members' evaluate stages wrote, not on runs of its own.
    members_written = [read_predictions(project / "predictions" / f"{m}.csv") for m in MEMBERS]
    written = read_predictions(project / "plots" / "imdb_ensemble" / "eval" / "predictions.csv")
    np.testing.assert_array_equal(written["target"], members_written[0]["target"])
    combined = stacking.combine(np.column_stack([f["output"] for f in members_written]))
    np.testing.assert_allclose(written["output"], combined, rtol=1e-4)  # params: 6 digits
    accuracy = np.mean(predicted_labels(written["output"]) == written["target"])
    assert accuracy == metrics["test_accuracy"]

    # The weights are the stacking of the validation outputs the select stages recorded.
    outputs = np.column_stack(
        [
            json.loads((project / "selection" / f"{m}.json").read_text())["validation_outputs"]
            for m in MEMBERS
        ]
    )
    val_labels = np.load(project / "data" / "prepared" / first_dataset(project) / "y_val.npy")
    refitted = fit_stacking(outputs, val_labels, 1.0)
    np.testing.assert_allclose(weights, refitted.weights, rtol=1e-4, atol=1e-6)

    # One raw-text model that runs both members and stacks their probabilities.
    texts = [review_text(1, 3), review_text(0, 5), "a plain sentence about a film"]
    together = served(project / "serving" / "imdb_ensemble", texts)
    alone = np.column_stack(
        [served(project / "serving" / m, texts)["probability"] for m in MEMBERS]
    )
    # atol: the members' float32 probabilities near 0 or 1 carry their log-odds to ~1e-7 only.
    np.testing.assert_allclose(
        together["probability"], stacking.combine(alone), rtol=1e-5, atol=1e-6
    )
    assert list(together["label"]) == [
        ("negative", "positive")[i] for i in predicted_labels(together["probability"])
    ]
    version = int(tags["registry.version"])
    registered = client.get_model_version("rnnlab-imdb", str(version))
    assert registered.run_id == ensemble_run.info.run_id

    # Ranked beside its members, and judged by the same promotion rule.
    leaderboard = (project / "reports" / "leaderboard.md").read_text()
    assert "| imdb_ensemble | ensemble |" in leaderboard
    promotion = json.loads((project / "reports" / "promotion.json").read_text())
    imdb = next(d for d in promotion if d["task"] == "imdb")
    best = max(
        (json.loads((project / "metrics" / f"{e}.json").read_text())["test_accuracy"], e)
        for e in [*MEMBERS, "imdb_ensemble"]
    )
    assert imdb["challenger_value"] == pytest.approx(best[0])

    # The members' report reads the same validation outputs: its stacking is the stage's.
    script = str(REPO / "benchmarks" / "ensemble_members.py")
    report = run([sys.executable, script, "imdb_ensemble"], project).stdout
    assert f"stacking, C=1: {metrics['val_accuracy']:.4f}" in report
    assert all(f"| {m} | " in report for m in MEMBERS)
    assert f"{MEMBERS[0]} + {MEMBERS[1]}: {metrics['val_accuracy']:.4f}" in report

    # Nothing changed: nothing runs.
    assert not ran_stages(run(["dvc", "repro", "-s", STAGE], project).stdout)


def first_dataset(project: Path) -> str:
    params = OmegaConf.load(project / "params.yaml")
    return params.experiments[MEMBERS[0]].dataset.name
