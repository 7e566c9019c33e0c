"""Using trained models: raw-text pyfunc models from the registry, predict/generate/forecast.

One tiny model per task is trained by the real `train` + `evaluate` code into a temporary
project with a sqlite MLflow store, and made `champion`, as the pipeline would.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from rnnlab import cli
from rnnlab.config.settings import compose_run
from rnnlab.io import load_array
from rnnlab.models import load_model
from rnnlab.pipeline.evaluate import evaluate
from rnnlab.tasks import builtin_tasks, get_task
from rnnlab.tracking import runs as tracking
from rnnlab.training.experiment import validate_experiment
from tests.stages import train

from .conftest import REPO, free_ports

TINY = ["trainer.batch_size=8", "trainer.early_stopping.patience=0"]
RUNS = {
    "imdb": [
        "experiment=imdb_pool",
        "trainer.epochs=20",
        "trainer.learning_rate=0.02",
        "model.embedding_dim=8",
        *TINY,
    ],
    "shakespeare": [
        "experiment=shakespeare_char_gru",
        "trainer.epochs=1",
        "trainer.steps_per_epoch=5",
        "model.units=16",
        "model.embedding_dim=8",
        *TINY,
    ],
    "sine": ["experiment=sine_lstm", "trainer.epochs=2", *TINY],
}
CHAMPION = {
    task: f"models:/{name}@champion"
    for task, name in ((t, get_task(t).registered_model) for t in builtin_tasks())
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_root: Path) -> Path:
    """A project whose three tasks each have a trained, evaluated, champion model."""
    root = tmp_path_factory.mktemp("served")
    (root / "data").mkdir()
    (root / "data" / "prepared").symlink_to(tiny_root / "data" / "prepared")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    client = None
    for task, overrides in RUNS.items():
        cfg = validate_experiment(compose_run(overrides, REPO))
        train(cfg, root)
        evaluate(cfg, root)
        client = client or MlflowClient()
        name = get_task(task).registered_model
        version = max(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
        client.set_registered_model_alias(name, "champion", version)
    return root


@pytest.fixture
def in_project(served: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RNNLAB_ROOT", str(served))
    monkeypatch.chdir(served)
    tracking.connect(served)
    return served


def rnnlab(argv: list[str], capsys, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_champion_pyfunc_takes_raw_text_with_the_training_vectorization(
    in_project: Path, tiny_root: Path
) -> None:
    """Probabilities from raw test reviews equal the Keras model's on the prepared arrays."""
    cfg = validate_experiment(compose_run(RUNS["imdb"], REPO))
    prepared = in_project / "data" / "prepared" / cfg.dataset.name
    reviews = pd.read_parquet(tiny_root / "data" / "interim" / "imdb_reviews.parquet")
    test = reviews[reviews["split"] == "test"]  # prepare keeps the table's order
    keras_prob = load_model(in_project / "models" / cfg.name / "model.keras").predict(
        load_array(prepared, "x_test"), verbose=0
    )
    model = mlflow.pyfunc.load_model(CHAMPION["imdb"])
    scored = model.predict(test[["text"]])
    assert list(scored.columns) == ["probability", "label", "tokens", "unknown_tokens"]
    np.testing.assert_allclose(scored["probability"], keras_prob.ravel(), atol=1e-6)
    assert set(scored["label"]) <= {"positive", "negative"}
    assert ((scored["probability"] >= 0.5) == (scored["label"] == "positive")).all()
    # The tiny model has learned the tiny data's sentiment words.
    assert (scored["label"].eq("positive") == test["label"].eq(1).to_numpy()).mean() > 0.7


def test_a_champion_packaged_before_meta_json_named_punctuation_still_serves(
    in_project: Path, tmp_path: Path
) -> None:
    """A registry keeps champions from earlier versions, served by today's code: their
    preprocessing.json has no `punctuation` key (they kept no marks)."""
    current = Path(mlflow.artifacts.download_artifacts(CHAMPION["imdb"], dst_path=str(tmp_path)))
    reviews = pd.DataFrame({"text": ["A wonderful film!", "Dull, awful; a waste."]})
    expected = mlflow.pyfunc.load_model(str(current)).predict(reviews)
    (settings,) = current.rglob("preprocessing.json")
    written = json.loads(settings.read_text())
    assert written["punctuation"] is False
    del written["punctuation"]
    settings.write_text(json.dumps(written))
    pd.testing.assert_frame_equal(mlflow.pyfunc.load_model(str(current)).predict(reviews), expected)


def test_served_model_requires_the_tensorflow_build_each_system_installs(in_project: Path) -> None:
    import tensorflow as tf
    from packaging.requirements import Requirement

    path = mlflow.pyfunc.get_model_dependencies(CHAMPION["imdb"])
    wanted = [Requirement(line) for line in Path(path).read_text().splitlines() if line]
    systems = {
        ("linux", "x86_64"): "tensorflow-cpu",
        ("linux", "aarch64"): "tensorflow",
        ("darwin", "arm64"): "tensorflow",
    }
    for (platform, machine), build in systems.items():
        env = {"sys_platform": platform, "platform_machine": machine}
        found = [r for r in wanted if r.name.startswith("tensorflow") and r.marker.evaluate(env)]
        assert [r.name for r in found] == [build], (platform, machine)
        assert str(found[0].specifier) == f"=={tf.__version__}"


def test_predict_one_review_from_the_command_line(in_project: Path, capsys) -> None:
    code, out, err = rnnlab(
        ["predict", "This movie was wonderful, really brilliant!", "--output", "jsonl"], capsys
    )
    assert code == 0, err
    row = json.loads(out)
    assert 0.0 <= row["probability"] <= 1.0
    assert row["label"] == ("positive" if row["probability"] >= 0.5 else "negative")
    assert row["tokens"] == 6 and row["text"].startswith("This movie")
    # Which model: the registry's champion, named on stderr (stdout is the model's alone).
    assert f"model: models:/rnnlab-imdb@champion (version 1, sqlite:///{in_project}" in err


@pytest.mark.parametrize("fmt", ["txt", "csv", "jsonl", "stdin"])
def test_predict_many_reviews_from_a_file_or_stdin(
    in_project: Path, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fmt: str
) -> None:
    reviews = ["An awful, boring waste of time.", "Superb, moving and brilliant, a must"]
    body = {
        "txt": "\n".join(reviews) + "\n",
        "csv": pd.DataFrame({"stars": [1, 5], "review": reviews}).to_csv(index=False),
        "jsonl": pd.DataFrame({"review": reviews}).to_json(orient="records", lines=True),
        "stdin": "\n".join(reviews),
    }[fmt]
    args = ["predict", "--output", "jsonl"]
    if fmt == "stdin":
        code, out, err = rnnlab(args, capsys, stdin=body, monkeypatch=monkeypatch)
    else:
        path = tmp_path / f"reviews.{fmt}"
        path.write_text(body, encoding="utf-8")
        column = [] if fmt == "txt" else ["--text-column", "review"]
        code, out, err = rnnlab([*args, "--file", str(path), *column], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in rows] == reviews
    expected = mlflow.pyfunc.load_model(CHAMPION["imdb"]).predict(pd.DataFrame({"text": reviews}))
    np.testing.assert_allclose([r["probability"] for r in rows], expected["probability"])


def test_predict_table_output_and_a_model_path(in_project: Path, capsys) -> None:
    code, out, err = rnnlab(["predict", "great film", "--model", "serving/imdb_pool"], capsys)
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["probability", "label", "tokens", "unknown_tokens", "text"]
    assert row.split()[2] == "2" and row.endswith("great film")


def test_edge_case_reviews(in_project: Path) -> None:
    model = mlflow.pyfunc.load_model(CHAMPION["imdb"])
    long_review = ("great plot " * 10_000)[:100_000]
    foreign = "这部电影非常精彩 très émouvant 😀"
    scored = model.predict(pd.DataFrame({"text": [long_review, foreign]}))
    assert len(long_review) == 100_000 and scored["tokens"][0] == len(long_review.split())
    assert scored["tokens"][1] == 3 and scored["unknown_tokens"][1] == 3
    assert np.isfinite(scored["probability"]).all()


@pytest.mark.parametrize("text", ["", "   ", "😀🎬 !!!"])
def test_review_without_words_is_a_clear_error(in_project: Path, capsys, text: str) -> None:
    code, _, err = rnnlab(["predict", text], capsys)
    assert code == 2
    assert "rows [0] have no words" in err and "remove them or add text" in err


def test_missing_text_column_names_the_columns(in_project: Path, capsys, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("stars,body\n5,great\n", encoding="utf-8")
    code, _, err = rnnlab(["predict", "--file", str(path)], capsys)
    assert code == 2 and "no 'text'" in err and "--text-column" in err


def test_model_uri_that_does_not_exist(in_project: Path, capsys) -> None:
    code, _, err = rnnlab(["predict", "good", "--model", "models:/no-such-model@champion"], capsys)
    assert code == 2
    assert "cannot load model 'models:/no-such-model@champion'" in err
    assert "no-such-model" in err and "--model" in err


@pytest.mark.parametrize(
    ("command", "model", "found", "needed"),
    [
        (["predict", "good"], "sine", "sine", "imdb"),
        (["generate"], "imdb", "imdb", "shakespeare"),
        (["forecast"], "shakespeare", "shakespeare", "sine"),
    ],
)
def test_model_of_the_wrong_task(in_project: Path, capsys, command, model, found, needed) -> None:
    code, _, err = rnnlab([*command, "--model", CHAMPION[model]], capsys)
    assert code == 2
    assert f"a model for the {found} task, but this command needs one for the {needed}" in err


def test_generate_is_seeded_and_continues_the_prompt(in_project: Path, capsys) -> None:
    args = ["generate", "--prompt", "ROMEO:", "--length", "60", "--temperature", "0.8"]
    code, first, err = rnnlab([*args, "--seed", "1"], capsys)
    assert code == 0, err
    text = first.rstrip("\n")
    assert text.startswith("ROMEO:") and len(text) == 66
    assert rnnlab([*args, "--seed", "1"], capsys)[1] == first
    assert rnnlab([*args, "--seed", "2"], capsys)[1] != first


def test_generate_rejects_unknown_characters_and_bad_temperature(in_project: Path, capsys) -> None:
    code, _, err = rnnlab(["generate", "--prompt", "日本€"], capsys)
    assert code == 2 and "outside the model's vocabulary: ['€', '日', '本']" in err
    for temperature in ("0", "-1"):
        code, _, err = rnnlab(["generate", "--temperature", temperature], capsys)
        assert code == 2 and "--temperature must be > 0" in err


def test_forecast_prints_values_and_writes_a_plot(in_project: Path, capsys, tmp_path: Path) -> None:
    plot = tmp_path / "out" / "forecast.png"
    args = ["forecast", "--start", "2.0", "--steps", "25", "--plot", str(plot), "--output"]
    code, out, err = rnnlab([*args, "jsonl"], capsys)
    assert code == 0, err
    rows = pd.read_json(io.StringIO(out), lines=True)
    assert len(rows) == 25 and rows["step"].tolist() == list(range(1, 26))
    spacing = np.diff(rows["x"]).mean()
    assert rows["x"][0] == pytest.approx(2.0 + 10 * spacing) and spacing == pytest.approx(
        0.01, 1e-3
    )
    np.testing.assert_allclose(rows["true"], np.sin(rows["x"]), atol=1e-9)
    assert np.isfinite(rows["forecast"]).all()
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = rnnlab(["forecast", "--steps", "0"], capsys)
    assert code == 2 and "--steps must be a positive integer" in err


@pytest.mark.slow
def test_mlflow_models_serve_scores_reviews_over_http(in_project: Path, tmp_path: Path) -> None:
    (port,) = free_ports()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking.tracking_uri(in_project),
        # The scoring server runs `uvicorn` from the venv, as `make serve` arranges for users.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            CHAMPION["imdb"],
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    reviews = ["An awful, boring waste of time.", "Superb, moving and brilliant"]
    try:
        wait_for(f"{url}/ping", server, tmp_path / "serve.log")
        body = json.dumps(
            {"dataframe_split": {"columns": ["text"], "data": [[r] for r in reviews]}}
        )
        answer = post(f"{url}/invocations", body)
        rows = answer["predictions"]
        expected = mlflow.pyfunc.load_model(CHAMPION["imdb"]).predict(
            pd.DataFrame({"text": reviews})
        )
        np.testing.assert_allclose([r["probability"] for r in rows], expected["probability"])
        assert [r["label"] for r in rows] == expected["label"].tolist()
        empty = json.dumps({"dataframe_split": {"columns": ["text"], "data": [[""]]}})
        with pytest.raises(urllib.error.HTTPError) as bad:
            post(f"{url}/invocations", empty)
        assert bad.value.code == 400 and "have no words" in bad.value.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def wait_for(url: str, server: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.5)


def post(url: str, body: str) -> dict:
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    return json.loads(urllib.request.urlopen(request, timeout=60).read())
