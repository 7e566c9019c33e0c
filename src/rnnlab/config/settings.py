"""Where the project lives and how a run's configuration is obtained.

Two ways to get a configuration, one shape of result:
- `compose_run(overrides)` composes `conf/config.yaml` with Hydra overrides (ad-hoc runs);
- `load_params_section(key)` reads one section of params.yaml, which DVC stages use so that
  `dvc exp run -S ...` (which rewrites params.yaml) is honoured.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnlab.errors import ConfigError

CONFIG_DIR_NAME = "conf"
RUN_CONFIG = "config"
PIPELINE_CONFIG = "pipeline"
PARAMS_FILE = "params.yaml"
MIRROR_ENV = "RNNLAB_MIRROR"
ROOT_ENV = "RNNLAB_ROOT"
MODEL_FILE = "model.keras"  # the trained Keras model in models/<experiment>
HISTORY_FILE = "history.csv"  # one row per epoch of the kept model's fit, in plots/<experiment>
STATE_DIR = ".rnnlab"  # gitignored: running stages' progress, past stage durations, the run lock


def repo_root() -> Path:
    """The project root: $RNNLAB_ROOT, else the nearest parent of cwd holding conf/."""
    if env_root := os.environ.get(ROOT_ENV):
        return Path(env_root).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_DIR_NAME / f"{PIPELINE_CONFIG}.yaml").is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_DIR_NAME}/{PIPELINE_CONFIG}.yaml found in {here} or its parents; "
        f"run rnnlab from inside the project or set {ROOT_ENV}"
    )


def project_home(root: Path) -> Path:
    """The real repository, also from inside a DVC temporary experiment copy
    (`dvc exp run --temp/--queue` works under `<repo>/.dvc/tmp/exps/`)."""
    parts = root.resolve().parts
    for i in range(len(parts) - 1):
        if parts[i : i + 2] == (".dvc", "tmp"):
            return Path(*parts[:i])
    return root.resolve()


def state_dir(root: Path) -> Path:
    """The gitignored folder of the real repository's run state (STATE_DIR)."""
    return project_home(root) / STATE_DIR


def compose(config_name: str, overrides: list[str], root: Path | None = None) -> DictConfig:
    """Compose a config from conf/ exactly as DVC does (same Hydra call, resolved)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    config_dir = (root or repo_root()) / CONFIG_DIR_NAME
    try:
        with initialize_config_dir(str(config_dir), version_base=None):
            cfg = hydra_compose(config_name=config_name, overrides=overrides)
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        detail = str(exc).split("\nConfig search path")[0].replace("\n\t", " ").replace("\n", " ")
        raise ConfigError(f"cannot compose {config_name}.yaml with {overrides}: {detail}") from exc
    return cfg


def compose_run(overrides: list[str], root: Path | None = None) -> DictConfig:
    return compose(RUN_CONFIG, overrides, root)


def load_params(root: Path | None = None) -> DictConfig:
    path = (root or repo_root()) / PARAMS_FILE
    if not path.is_file():
        raise ConfigError(f"{path} does not exist; run `rnnlab compose` (or `make repro`) first")
    return OmegaConf.load(path)


def select(cfg: DictConfig, key: str) -> Any:
    node = OmegaConf.select(cfg, key, default=None)
    if node is None:
        raise ConfigError(f"key '{key}' not found in {PARAMS_FILE}; run `rnnlab compose`")
    return node


def load_params_section(key: str, root: Path | None = None) -> tuple[DictConfig, Any]:
    """Return (whole params, the section at `key`)."""
    params = load_params(root)
    return params, select(params, key)


def with_locations(params: DictConfig, section: Any) -> DictConfig:
    """A params.yaml section as a stage runs it: with the paths and sources it reads."""
    return OmegaConf.merge({"paths": params.paths, "sources": params.sources}, section)


def resolve_path(relative: str, root: Path | None = None) -> Path:
    """Absolute path of a configured location (paths.* are relative to the repo root)."""
    path = Path(relative)
    return path if path.is_absolute() else (root or repo_root()) / path


def mirror_dir() -> Path | None:
    value = os.environ.get(MIRROR_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None


def experiment_paths(cfg: DictConfig, root: Path) -> dict[str, Path]:
    """Where one experiment's stages read and write (paths.* of the config)."""
    name = cfg.name
    model_dir = resolve_path(cfg.paths.models, root) / name
    plots = resolve_path(cfg.paths.plots, root) / name
    return {
        "data": resolve_path(cfg.paths.prepared, root) / cfg.dataset.name,
        "selection": resolve_path(cfg.paths.selection, root) / f"{name}.json",
        "model_dir": model_dir,
        "model": model_dir / MODEL_FILE,
        "serving": resolve_path(cfg.paths.serving, root) / name,
        "checkpoint": resolve_path(cfg.paths.checkpoints, root) / name,
        "plots": plots,
        "history": plots / HISTORY_FILE,
        "metrics": resolve_path(cfg.paths.metrics, root) / f"{name}.json",
        "predictions": resolve_path(cfg.paths.predictions, root) / f"{name}.csv",
    }
