"""`rnnlab retrain` end to end on tiny data with a local DVC remote, and the CI workflows."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from rnnlab.cli import build_parser

from .conftest import REPO, run

FAST = {"epochs": 1, "steps_per_epoch": 2, "validation_steps": 1, "batch_size": 8}
SMOKE = ["imdb_pool", "shakespeare_char_gru", "sine_lstm"]
BIN = Path(sys.executable).parent


def retrain_args(*extra: str) -> list[str]:
    fast = [f"experiments.{e}.trainer.{k}={v}" for e in SMOKE for k, v in FAST.items()]
    return [str(BIN / "rnnlab"), "retrain", "suite=smoke", *fast, *extra]


def champions(project: Path) -> dict[str, int]:
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return {
        m: int(client.get_model_version_by_alias(m, "champion").version)
        for m in ("rnnlab-imdb", "rnnlab-shakespeare", "rnnlab-sine")
    }


@pytest.mark.slow
def test_retrain_push_wipe_pull_reproduce_and_fail_safely(project: Path) -> None:
    first = run(retrain_args(), project)
    report = (project / "reports" / "retrain.md").read_text()
    assert "Champions promoted: imdb, shakespeare, sine." in report
    assert "train@imdb_pool" in first.stdout
    # It runs the pipeline as `make repro` does: the smoke suite's three experiments in lanes.
    assert len(set(re.findall(r"^\[lane (\d)\] experiment ", first.stdout, re.M))) == 2
    assert "Stages run: " in report and "train@sine_lstm" in report
    before = champions(project)

    run([str(BIN / "dvc"), "push"], project)
    assert any((project.parent / "rnnlab-dvc-remote").rglob("*"))
    # What a fresh clone lacks: the cache and every cached output (git keeps the rest).
    for generated in (".dvc/cache", "data", "models", "serving"):
        shutil.rmtree(project / generated)
    for cached in project.glob("plots/*/*"):
        if cached.name != "history.csv":
            shutil.rmtree(cached) if cached.is_dir() else cached.unlink()
    run([str(BIN / "dvc"), "pull"], project)
    assert (project / "models" / "imdb_pool" / "model.keras").is_file()
    assert "up to date" in run([str(BIN / "dvc"), "status"], project).stdout

    again = run(retrain_args(), project)
    assert (
        "Stages run: none (everything up to date)."
        in (project / "reports" / "retrain.md").read_text()
    )
    assert "Running stage" not in again.stdout
    assert champions(project) == before

    broken = subprocess.run(
        retrain_args("experiments.imdb_pool.model.type=bogus"),
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert broken.returncode != 0  # refused at compose time, before any stage runs
    assert "experiment 'imdb_pool': model.type='bogus' is unknown" in broken.stderr
    assert champions(project) == before

    # A failure in the middle of the pipeline: a valid change reruns select@imdb_pool (it
    # refits), whose checkpoint folder cannot be created.
    (project / "checkpoints").mkdir(exist_ok=True)
    (project / "checkpoints" / "imdb_pool").write_text("in the way")
    failed = subprocess.run(
        retrain_args("experiments.imdb_pool.trainer.learning_rate=0.01"),
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert failed.returncode != 0
    assert "failed" in failed.stderr and "champions are unchanged" in failed.stderr
    assert "dvc repro failed for imdb_pool (lane " in failed.stderr  # the lanes' own verdict
    assert champions(project) == before


def workflow_scripts() -> list[str]:
    scripts = []
    for path in (REPO / ".github" / "workflows").glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            scripts += [step["run"] for step in job["steps"] if "run" in step]
    return scripts


def test_workflows_pass_actionlint() -> None:
    result = subprocess.run(
        [str(BIN / "actionlint"), *map(str, (REPO / ".github/workflows").glob("*.yml"))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_commands_exist_in_the_repo() -> None:
    scripts = "\n".join(workflow_scripts())
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"\bmake (\w[\w-]*)", scripts))
    assert targets >= {"install", "retrain"}
    for target in targets:
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no target {target}"
    subcommands = set(re.findall(r"\brnnlab (\w[\w-]*)", scripts + makefile))
    known = set(build_parser()._subparsers._group_actions[0].choices)
    assert subcommands and subcommands <= known
    for script in re.findall(r"bash (\S+)", scripts):
        assert (REPO / script).is_file()
    assert "make test" in (REPO / ".ci" / "run").read_text()
