"""The champion without a registry: reports/promotion.json -> serving/<experiment>.

The whole path (a fresh clone that pulled the outputs runs `rnnlab predict`) is in the slow
tests/test_team.py; these check which model the record names, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnlab.errors import ConfigError
from rnnlab.io import write_json
from rnnlab.serving.inference import champion

PARAMS = "paths: {reports: reports, serving: serving, models: models}\n"


def decision(promoted: bool, **fields) -> dict:
    record = {
        "task": "imdb",
        "model": "rnnlab-imdb",
        "challenger_experiment": "imdb_gru",
        "challenger_run": "run-gru",
        "challenger_version": 4,
        "champion_version": 2,
        "champion_run": "run-lstm",
        "champion_experiment": "imdb_lstm",
        "promoted": promoted,
    }
    return record | fields


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone with params.yaml and the pulled outputs of two experiments, no tracking store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "params.yaml").write_text(PARAMS)
    for experiment, run in (("imdb_gru", "run-gru"), ("imdb_lstm", "run-lstm")):
        (tmp_path / "serving" / experiment).mkdir(parents=True)
        write_json(tmp_path / "models" / experiment / "mlflow_run.json", {"run_id": run})
    return tmp_path


def record(root: Path, *decisions: dict) -> None:
    write_json(root / "reports" / "promotion.json", list(decisions))


def test_promoted_challenger_is_the_champion(clone: Path) -> None:
    record(clone, decision(promoted=True))
    path, source = champion("imdb", clone)
    assert path == str(clone / "serving" / "imdb_gru")
    assert (
        "the imdb champion recorded in" in source and "(imdb_gru, rnnlab-imdb version 4)" in source
    )
    assert f"sqlite:///{clone / 'mlflow.db'} has no rnnlab-imdb@champion" in source
    assert not (clone / "mlflow.db").exists()  # looking did not create an empty store


def test_kept_champion_is_the_earlier_one(clone: Path) -> None:
    record(clone, decision(promoted=False))
    path, source = champion("imdb", clone)
    assert path == str(clone / "serving" / "imdb_lstm") and "version 2" in source


def test_a_retrained_experiment_is_not_passed_off_as_the_champion(clone: Path) -> None:
    write_json(clone / "models" / "imdb_lstm" / "mlflow_run.json", {"run_id": "run-newer"})
    record(clone, decision(promoted=False))
    with pytest.raises(ConfigError, match=r"the champion is MLflow run run-lstm, but .* run-newer"):
        champion("imdb", clone)


def test_missing_or_old_records_say_what_to_do(clone: Path) -> None:
    with pytest.raises(ConfigError, match=r"no imdb champion: .*dvc pull.*--model"):
        champion("imdb", clone)
    record(clone, decision(promoted=False, champion_experiment=None))
    with pytest.raises(ConfigError, match=r"older `rnnlab promote`.*dvc repro promote"):
        champion("imdb", clone)
    record(clone, decision(promoted=True, challenger_experiment="imdb_bilstm"))
    with pytest.raises(ConfigError, match="the champion's model is not here"):
        champion("imdb", clone)
