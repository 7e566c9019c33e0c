"""Hydra's conventions at the `rnnlab` front door: `--cfg job|hydra|all` and config groups."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from rnnlab import cli
from rnnlab.config.front_door import config_groups
from rnnlab.pipeline.compose import compose_params

from .conftest import REPO

RUN_STAGES = ("prepare", "select", "train", "package", "evaluate")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root holding only conf/; a stage that ran would fail or write next to it."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "conf", root / "conf")
    monkeypatch.setenv("RNNLAB_ROOT", str(root))

    def stage_ran(root: Path) -> None:
        raise AssertionError("--cfg ran the stage")

    monkeypatch.setattr(cli, "require_tracking", stage_ran)
    return root


def shown(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    """Run `rnnlab argv` in-process, expect success and parse what it printed."""
    assert cli.main(list(argv)) == 0
    return yaml.safe_load(capsys.readouterr().out)


def help_groups(capsys: pytest.CaptureFixture[str], command: str) -> tuple[str, dict]:
    """`rnnlab command --help`: its text and the groups it lists ({group: [options]})."""
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    section = text.split("Configuration groups", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in section.splitlines()[1:]]
    return text, {g: o.split(", ") for g, o in (line.split(": ", 1) for line in lines)}


def test_cfg_job_prints_the_composed_run_and_runs_nothing(root, capsys):
    cfg = shown(capsys, "train", "--cfg", "job", "experiment=imdb_gru")
    assert cfg["name"] == "imdb_gru"
    assert cfg["model"]["cell"] == "gru"
    assert "hydra" not in cfg
    assert sorted(p.name for p in root.iterdir()) == ["conf"]  # no models/, mlruns/, ...


def test_cfg_job_shows_overrides(root, capsys):
    cfg = shown(capsys, "train", "-c", "job", "experiment=imdb_gru", "trainer.learning_rate=0.003")
    assert cfg["trainer"]["learning_rate"] == 0.003
    default = shown(capsys, "train", "-c", "job", "experiment=imdb_gru")
    assert default["trainer"]["learning_rate"] != 0.003


@pytest.mark.parametrize("command", RUN_STAGES)
def test_cfg_job_for_every_run_stage(root, capsys, command):
    cfg = shown(capsys, command, "--cfg", "job", "experiment=imdb_gru")
    assert cfg["name"] == "imdb_gru"
    assert cfg["dataset"]["task"] == "imdb"
    assert sorted(p.name for p in root.iterdir()) == ["conf"]


def test_cfg_all_is_the_job_plus_hydras_node(root, capsys):
    overrides = ["experiment=imdb_gru", "trainer.learning_rate=0.003"]
    everything = shown(capsys, "train", "--cfg", "all", *overrides)
    job = shown(capsys, "train", "--cfg", "job", *overrides)
    assert "hydra" in everything
    assert everything["hydra"]["overrides"]["task"] == overrides
    assert everything["hydra"]["runtime"]["choices"]["model"] == "gru"
    assert {k: v for k, v in everything.items() if k != "hydra"} == job


def test_cfg_hydra_is_only_hydras_node(root, capsys):
    cfg = shown(capsys, "train", "--cfg", "hydra", "experiment=imdb_gru")
    assert list(cfg) == ["hydra"]
    assert "help" not in cfg["hydra"]  # as Hydra's own --cfg hydra
    assert cfg["hydra"]["runtime"]["choices"]["experiment"] == "imdb_gru"
    assert "${now:" in cfg["hydra"]["run"]["dir"]


def test_resolve_resolves_interpolations(root, capsys):
    cfg = shown(capsys, "train", "--cfg", "hydra", "--resolve", "experiment=imdb_gru")
    assert cfg["hydra"]["run"]["dir"].startswith("outputs/")
    assert "${" not in cfg["hydra"]["run"]["dir"]
    assert cfg["hydra"]["sweep"]["subdir"] == "???"  # hydra.job.num: only set in a sweep


def test_resolve_without_cfg_is_refused(root, capsys):
    assert cli.main(["train", "--resolve", "experiment=imdb_gru"]) == 2
    assert "--resolve only goes with --cfg" in capsys.readouterr().err


def test_cfg_with_multirun_is_refused(root, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "-m", "--cfg", "job", "experiment=imdb_gru"])
    assert exit_.value.code == 2
    assert "not allowed with argument -m/--multirun" in capsys.readouterr().err


def test_bad_group_option_is_the_one_line_error(root, capsys):
    assert cli.main(["train", "--cfg", "job", "experiment=nope"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("rnnlab train: error:")]
    assert len(errors) == 1
    assert "experiment/nope" in errors[0]
    assert "Traceback" not in err


def test_cfg_job_with_params_key_is_the_stages_section(root, capsys):
    compose_params([], root)
    cfg = shown(capsys, "train", "--params-key", "experiments.imdb_gru", "--cfg", "job")
    assert cfg["name"] == "imdb_gru"
    assert cfg["model"]["cell"] == "gru"
    assert cfg["paths"]["models"] == "models"  # merged from params.yaml's paths
    assert cli.main(["train", "--params-key", "experiments.imdb_gru", "--cfg", "all"]) == 2
    assert "use --cfg job" in capsys.readouterr().err
    assert sorted(p.name for p in root.iterdir()) == ["conf", "params.yaml"]


def test_train_help_lists_the_config_groups(root, capsys):
    _, groups = help_groups(capsys, "train")
    assert "imdb_gru" in groups["experiment"]
    assert "lstm" in groups["model"]
    assert "recurrent_cosine" in groups["trainer"]
    assert groups["experiment"] == sorted(groups["experiment"])
    assert not any(group.startswith("hydra") for group in groups)


@pytest.mark.parametrize("command", RUN_STAGES)
def test_every_run_stage_help_lists_the_groups(root, capsys, command):
    text, groups = help_groups(capsys, command)
    assert groups["experiment"] == sorted(p.stem for p in (root / "conf/experiment").glob("*.yaml"))
    assert "--cfg {job,hydra,all}" in text


def test_help_without_a_project_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("RNNLAB_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "Configuration groups" in out
    assert f"no conf/pipeline.yaml found in {tmp_path.resolve()}" in out


def test_config_groups_walks_nested_groups_and_skips_hydras(tmp_path):
    conf = tmp_path / "conf"
    for name in ("db/mysql.yaml", "db/engine/inno.yaml", "hydra/launcher/slurm.yaml"):
        (conf / name).parent.mkdir(parents=True, exist_ok=True)
        (conf / name).write_text("{}\n")
    (conf / "db" / "notes.txt").write_text("not an option")
    (conf / "empty").mkdir()
    (conf / "config.yaml").write_text("{}\n")
    assert config_groups(conf) == {"db": ["mysql"], "db/engine": ["inno"]}
