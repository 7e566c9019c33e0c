"""Hydra's conventions at the `rnnlab` front door: `--cfg job|hydra|all` and the config groups
in `--help`, as a `@hydra.main` app offers them.

- `config_groups(config_dir)` lists each group under conf/ and its options (a directory walk,
  so `--help` stays fast);
- `groups_epilog()` is the "Configuration groups" section of a subcommand's help;
- `config_yaml(part, job, overrides, root)` is what `--cfg part` prints: the run's config
  (`job`), Hydra's own node (`hydra`), or both (`all`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rnnlab.config.settings import CONFIG_DIR_NAME, RUN_CONFIG, repo_root
from rnnlab.errors import ConfigError

CFG_PARTS = ("job", "hydra", "all")
HYDRA_NODE = "hydra"
# Hydra leaves these out of `--cfg hydra` (they are the templates of its own --help).
HYDRA_HELP_KEYS = ("help", "hydra_help")
# Groups that configure Hydra itself, not the run (hydra/launcher=..., as Hydra's help does).
INTERNAL_GROUPS = frozenset({HYDRA_NODE})
OPTION_SUFFIX = ".yaml"  # Hydra's file config source only reads .yaml files


def config_groups(config_dir: Path) -> dict[str, list[str]]:
    """Each config group under `config_dir` ("a/b" when nested) and its sorted options."""
    groups: dict[str, list[str]] = {}
    for folder in sorted(p for p in config_dir.rglob("*") if p.is_dir()):
        group = folder.relative_to(config_dir)
        options = sorted(f.stem for f in folder.glob(f"*{OPTION_SUFFIX}") if f.is_file())
        if options and group.parts[0] not in INTERNAL_GROUPS:
            groups[group.as_posix()] = options
    return groups


def groups_text(config_dir: Path) -> str:
    """The groups as Hydra's help lists them: `group: option, option, ...` one a line."""
    groups = config_groups(config_dir)
    if not groups:
        return f"  (no config groups in {config_dir})"
    return "\n".join(f"  {group}: {', '.join(options)}" for group, options in groups.items())


def groups_epilog() -> str:
    """The "Configuration groups" section of a run command's help, read from conf/."""
    try:
        listing = groups_text(repo_root() / CONFIG_DIR_NAME)
    except ConfigError as exc:  # no project found: the help still works and says why
        listing = f"  (none listed: {exc})"
    return (
        "Configuration groups (compose with group=option, e.g. experiment=imdb_gru):\n"
        f"{listing}\n\n"
        "Override anything in the config with key=value (e.g. trainer.learning_rate=0.003).\n"
        "--cfg job|hydra|all prints the composed config instead of running the stage."
    )


def hydra_node(overrides: list[str], root: Path) -> DictConfig:
    """Hydra's own `hydra:` node of conf/config.yaml composed with `overrides`."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(str(root / CONFIG_DIR_NAME), version_base=None):
            cfg = compose(RUN_CONFIG, overrides, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        detail = str(exc).split("\nConfig search path")[0].replace("\n", " ")
        raise ConfigError(f"cannot compose {RUN_CONFIG}.yaml with {overrides}: {detail}") from exc
    return cfg[HYDRA_NODE]


def plain(node: DictConfig) -> dict[str, Any]:
    """A writable plain copy of a config node (interpolations kept as they are)."""
    return OmegaConf.to_container(node, resolve=False)  # type: ignore[return-value]


def shown_config(part: str, job: DictConfig, overrides: list[str], root: Path) -> DictConfig:
    """The config `--cfg part` shows, laid out as Hydra does (its node first)."""
    if part == "job":
        return job
    hydra = plain(hydra_node(overrides, root))
    if part == "hydra":
        for key in HYDRA_HELP_KEYS:
            hydra.pop(key, None)
        return OmegaConf.create({HYDRA_NODE: hydra})
    return OmegaConf.create({HYDRA_NODE: hydra, **plain(job)})


def config_yaml(
    part: str,
    job: DictConfig,
    overrides: list[str] | None,
    root: Path,
    *,
    resolve: bool = False,
) -> str:
    """What `--cfg part` prints. `job` is the config the command would run; `overrides` are
    the Hydra overrides it was composed with (None: it came from params.yaml, not Hydra)."""
    if part not in CFG_PARTS:
        raise ConfigError(f"--cfg {part}: expected one of {', '.join(CFG_PARTS)}")
    if overrides is None and part != "job":
        raise ConfigError(
            f"--cfg {part} shows Hydra's node of a composed run, but with --params-key the "
            "config comes from params.yaml, not from Hydra; use --cfg job"
        )
    cfg = shown_config(part, job, overrides or [], root)
    if resolve:
        cfg = resolved(cfg)
    return OmegaConf.to_yaml(cfg)


def resolved(cfg: DictConfig) -> DictConfig:
    """A resolved copy, as Hydra's --resolve (values still missing, like hydra.job.num
    outside a sweep, stay ???)."""
    cfg = copy.deepcopy(cfg)
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:  # an interpolation that cannot be resolved
        raise ConfigError(f"--resolve: {exc}".replace("\n", " ")) from exc
    return cfg
