"""Compose conf/pipeline.yaml into params.yaml with DVC's own Hydra composition.

`make repro` calls this before `dvc repro` (plain `dvc repro` does not recompose), and
`dvc exp run` does the same composition itself when hydra is enabled in .dvc/config, so
both produce the same file.
"""

from __future__ import annotations

from pathlib import Path

from dvc.utils.hydra import compose_and_dump
from omegaconf import OmegaConf

from rnnlab.config.settings import CONFIG_DIR_NAME, PARAMS_FILE, PIPELINE_CONFIG, repo_root
from rnnlab.errors import ConfigError


def compose_params(
    overrides: list[str], root: Path | None = None, output: Path | None = None
) -> Path:
    root = root or repo_root()
    output = output or root / PARAMS_FILE
    config_dir = str(root / CONFIG_DIR_NAME)
    compose_and_dump(output, config_dir, None, PIPELINE_CONFIG, str(root), overrides)
    params = apply_profile(OmegaConf.load(output))
    OmegaConf.save(params, output)
    validate_all(params)
    check_datasets_declared(params)
    return output


# Sections of every experiment that a profile may override (conf/profile/*.yaml).
PROFILE_SECTIONS = ("trainer", "evaluation")


def apply_profile(params):
    """Merge the profile's sections into every experiment (quick: 1 short epoch, capped
    evaluation). A section the profile leaves empty is not added, so the full profile
    composes exactly the experiments' own settings."""
    for section in PROFILE_SECTIONS:
        settings = OmegaConf.select(params, f"profile.{section}")
        if not settings:
            continue
        for experiment in params.get("experiments", {}).values():
            experiment[section] = OmegaConf.merge(experiment.get(section) or {}, settings)
    return params


def validate_all(params) -> None:
    """Every experiment, ensemble and dataset variant must pass its checks before anything
    runs."""
    from rnnlab.pipeline.ensemble import ensemble_spec
    from rnnlab.training.experiment import validate_dataset, validate_experiment

    for key, experiment in params.get("experiments", {}).items():
        try:
            validate_experiment(experiment)
        except ConfigError as exc:
            raise ConfigError(f"experiment '{key}': {exc}") from exc
    for section in params.get("ensembles", {}).values():
        ensemble_spec(section, params.get("experiments", {}))
    for task, variants in params.get("datasets", {}).items():
        for key, variant in variants.items():
            try:
                validate_dataset(variant)
            except ConfigError as exc:
                raise ConfigError(f"dataset variant '{task}.{key}': {exc}") from exc


def declared_dataset_names(params) -> set[str]:
    return {
        variant.name for task in params.get("datasets", {}).values() for variant in task.values()
    }


def check_datasets_declared(params) -> None:
    """Every experiment must train on a dataset variant that a prepare stage produces."""
    declared = declared_dataset_names(params)
    for key, experiment in params.get("experiments", {}).items():
        if experiment.dataset.name not in declared:
            raise ConfigError(
                f"experiment '{key}' uses dataset variant '{experiment.dataset.name}', which no "
                f"prepare stage produces (declared: {sorted(declared)}); add that variant to the "
                "suite's datasets in conf/suite/, or pick a declared one"
            )


def is_stale(root: Path | None = None) -> bool:
    """True when params.yaml differs from a fresh composition of conf/ (no overrides)."""
    import tempfile

    root = root or repo_root()
    current = root / PARAMS_FILE
    with tempfile.TemporaryDirectory() as tmp:
        fresh = compose_params([], root, Path(tmp) / PARAMS_FILE)
        return not current.is_file() or current.read_text() != fresh.read_text()
