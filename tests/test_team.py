"""A team's setup for real (docs/scaling.md): the scheduled retrain workflow's own steps
against `make server` (PostgreSQL, artifacts on moto's S3, basic auth) and an S3 DVC remote
on the same endpoint; then a fresh clone of what its pull request commits; who may do what;
and the champion from a clone without the registry."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID as PARENT

from rnnlab.tracking.runs import PIPELINE_TAG

from .conftest import REPO
from .team import BUCKET, CI, S3_KEYS, VIEWER, TeamServer, bucket_objects, team_server

WORKFLOW = REPO / ".github" / "workflows" / "retrain.yml"
VENV = Path(sys.executable).parent.parent
SMOKE = {"imdb_pool", "shakespeare_char_gru", "sine_lstm"}
MODELS = ("rnnlab-imdb", "rnnlab-shakespeare", "rnnlab-sine")
REVIEW = "A wonderful, moving film: brilliant."


def workflow_job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["retrain"]


def workflow_values(job: dict, server: TeamServer) -> dict[str, str]:
    """What the repository's secrets and inputs hold, here: every variable the job sets."""
    values = {
        **server.account_env(CI),
        **S3_KEYS,
        "DVC_REMOTE_URL": f"s3://{BUCKET}/dvc",
        "S3_ENDPOINT_URL": server.s3,
        "SUITE": "smoke",
        "PROFILE": "tiny",
    }
    assert set(values) == set(job["env"]), "the test sets exactly the workflow's variables"
    return values


def base_env(root: Path) -> dict[str, str]:
    """The machine's environment, without any tracking or AWS settings of its own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "AWS_", "GITHUB_")) and k != "RNNLAB_ROOT"
    }
    # The test's venv stands in for the workflow's `make install` (already up to date).
    return env | {"RNNLAB_ROOT": str(root), "VENV": str(VENV)}


def run_workflow(job: dict, root: Path, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Every `run` step of the job, in order, as GitHub runs them; returns the output of all
    and the step outputs ($GITHUB_OUTPUT)."""
    github = root.parent / f"{root.name}-github"
    github.mkdir(exist_ok=True)
    files = {"GITHUB_OUTPUT": github / "output", "GITHUB_STEP_SUMMARY": github / "summary"}
    for path in files.values():
        path.write_text("")
    env = env | {k: str(v) for k, v in files.items()}
    stamp = subprocess.run(["make", "-q", f"{VENV}/.installed-stamp"], cwd=root, env=env)
    assert stamp.returncode == 0, "run `make install` first: the test must not reinstall"
    log = []
    for step in job["steps"]:
        if "run" not in step:
            continue
        script = step["run"].strip()
        assert script.startswith("make ") and "\n" not in script, f"not a make target: {script}"
        result = subprocess.run(
            ["bash", "-e", "-c", script], cwd=root, env=env, capture_output=True, text=True
        )
        log.append(f"$ {script}\n{result.stdout}{result.stderr}")
        assert result.returncode == 0, "\n".join(log)
    return "\n".join(log), step_outputs(files["GITHUB_OUTPUT"].read_text())


def step_outputs(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+)<<EOF\n(.*?)\nEOF$", text, re.M | re.S))


def pull_request_paths(job: dict, outputs: dict[str, str]) -> list[str]:
    """The create-pull-request step's add-paths, resolved as GitHub would."""
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith("peter-evans/")]
    match = re.fullmatch(r"\$\{\{ steps\.(\w+)\.outputs\.(\w+) \}\}", step["with"]["add-paths"])
    assert match, "the pull request's files come from a step's output, not a list"
    assert match[1] in {s.get("id") for s in job["steps"]}
    return outputs[match[2]].split()


def git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def as_main(project: Path) -> None:
    """The project as a repository whose main holds the code (the copy's files)."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(REPO / name, project / name)
    git(project, "checkout", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "main")


def clone(project: Path, target: Path) -> Path:
    git(project.parent, "clone", "-q", str(project), str(target))
    # git dates the checkout now; the shared venv is up to date with this very pyproject.
    stat = (project / "pyproject.toml").stat()
    os.utime(target / "pyproject.toml", (stat.st_atime, stat.st_mtime))
    return target


def champions(server: TeamServer) -> dict[str, int]:
    with psycopg.connect(server.database) as db:
        rows = db.execute("select name, version from registered_model_aliases").fetchall()
    return {name: int(version) for name, version in rows}


def rnnlab(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV / "bin" / "rnnlab"), *args], cwd=root, env=env, capture_output=True, text=True
    )


@pytest.mark.slow  # a server on PostgreSQL and S3, the smoke pipeline and a no-op rerun
def test_team_retrains_with_the_workflows_steps_and_a_clone_finds_everything(
    project: Path, tmp_path: Path
) -> None:
    as_main(project)
    job = workflow_job()
    with team_server(tmp_path / "team") as server:
        values = workflow_values(job, server)
        first_log, outputs = run_workflow(job, project, base_env(project) | values)
        assert "Champions promoted: imdb, shakespeare, sine." in first_log

        # Runs, params and metrics are in PostgreSQL; artifacts in the bucket, none on disk.
        with psycopg.connect(server.database) as db:
            assert training_runs(db) == SMOKE
            params = db.execute(
                "select run_uuid, value from params where key = 'trainer.batch_size'"
            ).fetchall()
            assert {value for _, value in params} == {"8"}  # the tiny profile, per run
            metrics = {row[0] for row in db.execute("select distinct key from metrics")}
        assert {"test_accuracy", "test_rmse", "val_loss_nats"} <= metrics
        before = champions(server)
        assert set(before) == set(MODELS)
        objects = bucket_objects(server.s3)
        models = [k for k in objects if k.startswith("mlartifacts/") and k.endswith("/MLmodel")]
        assert len(models) >= 3 and any(k.startswith("dvc/files/md5/") for k in objects)
        for local in ("mlartifacts", "mlruns", "mlflow.db"):
            assert not (project / local).exists(), f"{local} written on local disk"

        # The pull request commits what DVC keeps in git: also the history CSVs and the
        # promotion record that a hand-written list had missed.
        paths = pull_request_paths(job, outputs)
        assert paths == rnnlab(project, base_env(project), "git-outputs").stdout.split()
        expected = {"dvc.lock", "params.yaml", "reports/promotion.json", "reports/promotion.md"}
        expected |= {f"plots/{e}/history.csv" for e in SMOKE} | {f"metrics/{e}.json" for e in SMOKE}
        assert expected <= set(paths)
        git(project, "add", "--", *paths)
        git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "retrain")
        assert "reports/promotion.json" in git(project, "show", "--name-only", "HEAD")

        # A fresh clone of main after merging: the next scheduled run (or a teammate) pulls
        # everything, finds `dvc status` clean, retrains nothing and moves no champion.
        fresh = clone(project, tmp_path / "clone")
        env = base_env(fresh) | values
        second_log, _ = run_workflow(job, fresh, env)
        assert "Stages run: none (everything up to date)." in second_log
        assert "Running stage" not in second_log
        assert champions(server) == before
        status = subprocess.run(
            [str(VENV / "bin" / "dvc"), "status"], cwd=fresh, env=env, capture_output=True
        )
        assert b"up to date" in status.stdout, status.stdout + status.stderr

        check_viewer(server, fresh, base_env(fresh), before)
        check_champion_without_registry(server, fresh, base_env(fresh), before)
        check_password_nowhere(server, first_log + second_log)


def training_runs(db: psycopg.Connection) -> set[str]:
    """The names of the runs that trained, after checking that the reproduction shows as
    one: a parent run per MLflow experiment, every run tagged with the same pipeline id."""
    tags: dict[str, dict[str, str]] = {}
    for run_id, key, value in db.execute(
        "select run_uuid, key, value from tags where key in (%s, %s)", (PARENT, PIPELINE_TAG)
    ):
        tags.setdefault(run_id, {})[key] = value
    runs = db.execute("select run_uuid, name, experiment_id from runs").fetchall()
    parents = {run_id: exp for run_id, name, exp in runs if name.startswith("pipeline ")}
    trained = [(run_id, name, exp) for run_id, name, exp in runs if run_id not in parents]
    assert sorted(parents.values()) == sorted(exp for _, _, exp in trained)
    assert len({tags[run_id][PIPELINE_TAG] for run_id, _, _ in runs}) == 1
    for run_id, _, exp in trained:
        assert parents[tags[run_id][PARENT]] == exp
    return {name for _, name, _ in trained}


def check_viewer(server: TeamServer, root: Path, env: dict[str, str], before: dict) -> None:
    viewer = env | server.account_env(VIEWER)
    client = MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)
    os.environ.update(server.account_env(VIEWER))  # the client reads its account from here
    try:
        experiment = client.get_experiment_by_name("imdb-sentiment")
        runs = client.search_runs([experiment.experiment_id])  # reads runs
        trained, parent = sorted(r.info.run_name for r in runs)
        assert trained == "imdb_pool" and parent.startswith("pipeline ")
        with pytest.raises(Exception, match="403"):
            client.set_registered_model_alias("rnnlab-imdb", "champion", 1)
    finally:
        for name in server.account_env(VIEWER):
            os.environ.pop(name)
    # It loads the champion from the registry and says so.
    used = rnnlab(root, viewer, "predict", REVIEW)
    assert used.returncode == 0, used.stderr
    version = before["rnnlab-imdb"]
    assert f"model: models:/rnnlab-imdb@champion (version {version}, {server.uri})" in used.stderr
    # Retraining as viewer stops in one line before any stage, naming account and permission.
    params = (root / "params.yaml").read_bytes()
    refused = make_retrain(root, viewer, "SUITE=smoke", "PROFILE=tiny")
    assert refused.returncode != 0
    [line] = [x for x in refused.stderr.splitlines() if x.startswith("rnnlab retrain: error:")]
    assert (
        "account 'viewer' has READ on MLflow experiment 'imdb-sentiment' but logging runs "
        "needs EDIT" in line
    )
    assert "Running stage" not in refused.stdout + refused.stderr
    promote = rnnlab(root, viewer, "promote")
    assert promote.returncode != 0
    assert (
        "account 'viewer' has READ on MLflow registered model 'rnnlab-imdb' but registering "
        "versions and moving the 'champion' alias needs EDIT" in promote.stderr
    )
    # A wrong password stops before anything, even composing params.yaml.
    wrong = env | server.account_env((CI[0], "not-the-password"))
    denied = make_retrain(root, wrong, "SUITE=tuned", "PROFILE=full")
    assert denied.returncode != 0
    assert "refused account 'ci' (HTTP 401: wrong user name or password)" in denied.stderr
    assert (root / "params.yaml").read_bytes() == params
    assert champions(server) == before


def make_retrain(root: Path, env: dict[str, str], *variables: str):
    return subprocess.run(
        ["make", "retrain", *variables], cwd=root, env=env, capture_output=True, text=True
    )


def check_champion_without_registry(
    server: TeamServer, root: Path, env: dict[str, str], before: dict
) -> None:
    """No server, no sqlite store: the champion is found through reports/promotion.json."""
    assert not (root / "mlflow.db").exists()
    result = rnnlab(root, env, "predict", REVIEW, "--output", "jsonl")
    assert result.returncode == 0, result.stderr
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["text"] == REVIEW and 0 <= row["probability"] <= 1
    assert (
        f"model: {root / 'serving' / 'imdb_pool'}: the imdb champion recorded in "
        f"{root / 'reports' / 'promotion.json'} (imdb_pool, rnnlab-imdb version "
        f"{before['rnnlab-imdb']})" in result.stderr
    )
    forecast = rnnlab(root, env, "forecast", "--steps", "5", "--plot", str(root / "f.png"))
    assert forecast.returncode == 0, forecast.stderr
    assert f"model: {root / 'serving' / 'sine_lstm'}: the sine champion recorded" in forecast.stderr
    assert not (root / "mlflow.db").exists()  # no empty store left behind


def check_password_nowhere(server: TeamServer, logs: str) -> None:
    password = CI[1]
    client = MlflowClient(tracking_uri=server.uri)
    os.environ.update(server.account_env(CI))
    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments)
    finally:
        for name in server.account_env(CI):
            os.environ.pop(name)
    assert len(runs) == 2 * len(SMOKE)  # each trained run and its reproduction's parent
    for run in runs:
        assert password not in repr(run.data.params) and password not in repr(run.data.tags)
    for key, payload in bucket_objects(server.s3).items():
        assert password.encode() not in payload, key
    assert password not in logs
    assert password not in server.log.read_text()
