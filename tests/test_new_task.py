"""A fourth task, written here as docs/extending.md describes, runs through every stage.

The task ("majority": is a token sequence mostly 2s or mostly 3s?) lives in a module of
its own outside rnnlab, with its dataset and experiment configs beside the project's conf/;
nothing in rnnlab names it. Prepare, select, train, package, evaluate, compare and promote
all work on it by asking the task.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from rnnlab.config.settings import compose_run
from rnnlab.data.predictions import read_predictions
from rnnlab.errors import ConfigError
from rnnlab.pipeline.compare import compare
from rnnlab.pipeline.evaluate import evaluate
from rnnlab.pipeline.promote import promote
from rnnlab.pipeline.stages import prepare
from rnnlab.tasks import builtin_tasks, get_task
from rnnlab.training.experiment import validate_dataset, validate_experiment

from .conftest import REPO
from .stages import train

TASK_MODULE = {
    "__init__.py": '''
        """Majority: is a sequence of tokens 2 and 3 mostly 2s (label 0) or mostly 3s (1)?"""
        from dataclasses import dataclass

        from rnnlab.tasks.base import Task


        @dataclass(frozen=True)
        class MajorityTask(Task):
            def loss_and_metrics(self):
                import keras

                return keras.losses.BinaryCrossentropy(), ["accuracy"]

            def held_out_id(self, dataset):
                return f"majority/n{dataset.examples}_len{dataset.length}_seed{dataset.seed}"


        TASK = MajorityTask(
            name="majority_task",
            title="Majority of tokens (test accuracy, higher is better)",
            problem="binary_text",
            mlflow_experiment="majority",
            registered_model="rnnlab-majority",
            main_metric="test_accuracy",
            validation_metric="val_accuracy",
            higher_is_better=True,
        )
    ''',
    "settings.py": """
        from dataclasses import dataclass

        from omegaconf import MISSING


        @dataclass
        class MajorityDataset:
            task: str = MISSING
            examples: int = MISSING
            length: int = MISSING
            val_fraction: float = MISSING
            seed: int = MISSING
            name: str = MISSING


        DATASET = MajorityDataset
    """,
    "prepare.py": """
        import numpy as np

        from rnnlab.io import atomic_dir, save_arrays, write_json


        def split(rng, count, length):
            x = rng.choice([2, 3], size=(count, length)).astype(np.int32)
            return x, ((x == 3).sum(axis=1) * 2 > length).astype(np.int8)


        def prepare(dataset, cfg, root, output):
            rng = np.random.default_rng(dataset.seed)
            val = round(dataset.examples * dataset.val_fraction)
            sizes = {"train": dataset.examples - val, "val": val, "test": dataset.examples}
            with atomic_dir(output) as folder:
                for name, count in sizes.items():
                    x, y = split(rng, count, dataset.length)
                    save_arrays(folder, **{f"x_{name}": x, f"y_{name}": y})
                meta = {"task": dataset.task, "name": dataset.name, "vocab_size": 4,
                        "seq_len": dataset.length, "sizes": sizes}
                write_json(folder / "meta.json", meta)
            return meta
    """,
    "evaluate.py": """
        import numpy as np
        import pandas as pd

        from rnnlab.tasks.evaluation import EvaluationResult


        def evaluate(model, splits, out, cfg):
            x, y = splits.arrays["test"]
            prob = model.predict(x, verbose=0).ravel()
            (out / "histogram.txt").write_text(str(np.histogram(prob, bins=4, range=(0, 1))))
            metrics = {"test_accuracy": float(np.mean((prob >= 0.5) == y)), "test_examples": len(y)}
            return EvaluationResult(metrics, pd.DataFrame({"target": y, "output": prob}))
    """,
    "serve.py": """
        from pathlib import Path

        import mlflow
        import numpy as np
        import pandas as pd

        from rnnlab.data.model_io import input_column
        from rnnlab.io import read_json

        INPUT = ("string", "tokens")
        OUTPUTS = [("double", "probability")]
        PARAMS = {}
        VOCABULARY = None


        def preprocessing(meta, cfg):
            return {"length": meta["seq_len"]}


        class MajorityVote(mlflow.pyfunc.PythonModel):
            def load_context(self, context):
                from rnnlab.models import load_model

                self.model = load_model(context.artifacts["model"])
                self.length = read_json(Path(context.artifacts["preprocessing"]))["length"]

            def predict(self, context, model_input, params=None):
                rows = [[int(t) for t in str(s).split()] for s in input_column(model_input, "tokens")]
                x = np.array([r[: self.length] + [0] * (self.length - len(r)) for r in rows])
                return pd.DataFrame({"probability": self.model.predict(x, verbose=0).ravel()})


        WRAPPER = MajorityVote
    """,
}
DATASET = """\
task: majority_task
examples: 300
length: 9
val_fraction: 0.25
seed: 0
name: majority_n${.examples}
"""
EXPERIMENT = """\
# @package _global_
defaults:
  - /dataset: majority
  - /model: pool
  - /trainer: default
  - _self_
name: majority_pool
model: {embedding_dim: 8, dense_units: 8}
trainer: {epochs: 4, batch_size: 32, learning_rate: 0.02, refit: true}
"""


@pytest.fixture
def fourth_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root whose conf/ knows the new task, and the task's module importable."""
    package = tmp_path / "plugins" / "majority_task"
    package.mkdir(parents=True)
    for name, source in TASK_MODULE.items():
        (package / name).write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    monkeypatch.syspath_prepend(str(package.parent))
    root = tmp_path / "project"
    shutil.copytree(REPO / "conf", root / "conf")
    (root / "conf" / "dataset" / "majority.yaml").write_text(DATASET)
    (root / "conf" / "experiment" / "majority_pool.yaml").write_text(EXPERIMENT)
    monkeypatch.setenv("RNNLAB_ROOT", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield root
    get_task.cache_clear()
    sys.modules.pop("majority_task", None)
    mlflow.set_tracking_uri(None)


def test_a_new_task_runs_through_every_stage(fourth_task: Path) -> None:
    root = fourth_task
    cfg = validate_experiment(compose_run(["experiment=majority_pool"], root))
    assert "majority_task" not in builtin_tasks()
    assert get_task("majority_task").package == "majority_task"

    meta = prepare(cfg, root)
    assert meta["sizes"] == {"train": 225, "val": 75, "test": 300}
    result = train(cfg, root)  # select -> train -> package
    selection = json.loads((root / "selection" / "majority_pool.json").read_text())
    assert selection["refit"] and 1 <= selection["epochs"] <= 4
    assert result["kept_epochs"] == selection["epochs"]
    metrics = evaluate(cfg, root)
    assert metrics["task"] == "majority_task" and metrics["test_examples"] == 300
    assert metrics["test_accuracy"] > 0.75  # it learned the majority rule
    assert (root / "plots" / "majority_pool" / "eval" / "histogram.txt").is_file()
    predictions = read_predictions(root / "predictions" / "majority_pool.csv")
    assert len(predictions) == 300 and list(predictions) == ["target", "output"]
    accuracy = np.mean((predictions["output"] >= 0.5) == predictions["target"])
    assert accuracy == metrics["test_accuracy"]

    params = OmegaConf.create(
        {
            "paths": cfg.paths,
            "experiments": {"majority_pool": cfg},
            "anchors": {},
            "registry": {"alias": "champion", "margin": {}},
        }
    )
    table = compare(params, root)
    assert list(table["task"]) == ["majority_task"] and list(table["metric"]) == ["test_accuracy"]
    leaderboard = (root / "reports" / "leaderboard.md").read_text()
    assert "## Majority of tokens (test accuracy, higher is better)" in leaderboard
    [decision] = promote(params, root)
    assert decision.promoted and decision.model == "rnnlab-majority"

    client = MlflowClient()
    run = client.get_run(result["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "majority"
    assert run.data.tags["eval.data"] == "majority/n300_len9_seed0"
    logged = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/evaluation/predictions.csv")
    assert logged == (root / "predictions" / "majority_pool.csv").read_text()
    champion = mlflow.pyfunc.load_model("models:/rnnlab-majority@champion")
    scored = champion.predict(pd.DataFrame({"tokens": ["3 3 3 3 3 3 3 2 2", "2 2 2 2 2 2 3 3 2"]}))
    assert scored["probability"][0] > 0.5 > scored["probability"][1]


def test_a_new_tasks_dataset_is_checked_against_its_own_schema(fourth_task: Path) -> None:
    dataset = OmegaConf.create({"task": "majority_task", "name": "m", "lenght": 9})
    with pytest.raises(ConfigError, match=r"dataset.lenght is not a known setting of dataset"):
        validate_dataset(dataset)
    with pytest.raises(ConfigError, match=r"dataset.task='no_such_task' is unknown; built-in"):
        validate_dataset(OmegaConf.create({"task": "no_such_task", "name": "m"}))
    # The values live in the conf, not in the schema: an unset one is named, with the fix.
    unset = OmegaConf.create({"task": "majority_task", "name": "m", "examples": 3, "seed": 0})
    with pytest.raises(
        ConfigError,
        match=r"dataset 'm' sets no value for length, val_fraction; a dataset variant starts "
        r"from the task's settings \(`defaults: \[majority_task\]`",
    ):
        validate_dataset(unset)
