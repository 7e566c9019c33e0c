from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rnnlab.config.settings import compose_run
from rnnlab.errors import ConfigError
from rnnlab.pipeline.compose import check_datasets_declared, compose_params, is_stale
from rnnlab.training.experiment import validate_experiment

from .conftest import REPO

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


def test_params_yaml_is_fresh() -> None:
    assert not is_stale(REPO), "params.yaml is stale: run `rnnlab compose` and commit it"


def test_stale_params_are_detected(project: Path) -> None:
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("max_len: 500", "max_len: 501", 1))
    assert is_stale(project)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_name_matches_file(name: str) -> None:
    assert compose_run([f"experiment={name}"], REPO).name == name


def test_all_suite_declares_every_experiment_and_dataset(tmp_path: Path) -> None:
    params = OmegaConf.load(compose_params(["suite=all"], REPO, tmp_path / "params.yaml"))
    assert sorted(params.experiments) == EXPERIMENTS
    for key, experiment in params.experiments.items():
        assert experiment.name == key


SUITES = sorted(p.stem for p in (REPO / "conf" / "suite").glob("*.yaml"))


@pytest.mark.parametrize("suite", SUITES)
def test_suite_prepares_exactly_the_variants_its_experiments_use(
    suite: str, tmp_path: Path
) -> None:
    params = OmegaConf.load(compose_params([f"suite={suite}"], REPO, tmp_path / "params.yaml"))
    declared = [v.name for task in params.datasets.values() for v in task.values()]
    used = {experiment.dataset.name for experiment in params.experiments.values()}
    # One key per variant: two keys would be two prepare stages writing the same folder.
    assert sorted(declared) == sorted(set(declared))
    assert set(declared) == used


def test_overrides_reach_the_run_config() -> None:
    cfg = compose_run(
        ["experiment=imdb_gru", "dataset=imdb_v10k_len80", "trainer.batch_size=7"], REPO
    )
    assert cfg.model.cell == "gru"
    assert cfg.dataset.max_len == 80 and cfg.dataset.name == "imdb_v10000_len80_prepre_val0.2"
    assert cfg.trainer.batch_size == 7


def test_undeclared_dataset_variant_is_a_clear_error() -> None:
    params = OmegaConf.load(REPO / "params.yaml")
    params.experiments.imdb_lstm.dataset.name = "imdb_v5_len5"
    with pytest.raises(ConfigError, match="'imdb_v5_len5', which no prepare stage produces"):
        check_datasets_declared(params)


def test_quick_profile_caps_every_experiment_and_full_leaves_them(tmp_path: Path) -> None:
    full = OmegaConf.load(compose_params(["suite=all"], REPO, tmp_path / "full.yaml"))
    quick = OmegaConf.load(
        compose_params(["suite=all", "profile=quick"], REPO, tmp_path / "quick.yaml")
    )
    assert set(quick.experiments) == set(full.experiments) and len(full.experiments) > 20
    for key, experiment in quick.experiments.items():
        assert experiment.trainer.epochs == 1 and experiment.trainer.steps_per_epoch == 20
        assert experiment.trainer.early_stopping.patience == 0
        assert validate_experiment(experiment).trainer.epochs == 1
        assert experiment.evaluation.max_examples == 2000
        assert "evaluation" not in full.experiments[key]
        # Everything else is the experiment's own setting.
        assert experiment.trainer.learning_rate == full.experiments[key].trainer.learning_rate
        assert experiment.model == full.experiments[key].model
    alone = compose_run(["experiment=imdb_lstm"], REPO)
    assert full.experiments.imdb_lstm.trainer == alone.trainer and alone.trainer.epochs > 1


def test_dvc_parses_params_yaml_with_the_c_parser() -> None:
    # DVC parses params.yaml once per stage it checks (36 in the tuned suite); with the
    # pure-Python parser that is most of a no-op `dvc repro`.
    from dvc.utils.serialize._yaml import parse_yaml
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    text = (REPO / "params.yaml").read_text(encoding="utf-8")
    assert yaml.load(text) == parse_yaml(text, "params.yaml")
    assert type(yaml.parser).__name__ == "CParser"
