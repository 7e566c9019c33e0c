"""The data stages: download, parse and prepare; each takes a composed config and the repo
root. The task of a dataset (dataset.task) or of a download (its `source`) does the work.

The CLI (rnnlab.cli) is a thin wrapper; tests call these directly.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from rnnlab.config.settings import mirror_dir, resolve_path
from rnnlab.data import download as dl
from rnnlab.errors import ConfigError
from rnnlab.tasks import Task, builtin_tasks, get_task

log = logging.getLogger(__name__)


def prepared_dir(cfg: DictConfig, dataset: DictConfig, root: Path) -> Path:
    return resolve_path(cfg.paths.prepared, root) / dataset.name


def download(cfg: DictConfig, names: list[str], root: Path) -> list[Path]:
    unknown = sorted(set(names) - set(cfg.sources))
    if unknown:
        raise ConfigError(f"unknown source(s) {unknown}; allowed: {sorted(cfg.sources)}")
    raw_dir = resolve_path(cfg.paths.raw, root)
    return [dl.fetch(dl.Source(**cfg.sources[name]), raw_dir, mirror_dir()) for name in names]


def task_reading(source: str) -> Task:
    """The task whose data is built from the raw download `source` and needs parsing."""
    for name in builtin_tasks():
        task = get_task(name)
        if task.source == source and hasattr(task.role("prepare"), "parse"):
            return task
    raise ConfigError(f"no task parses the source {source!r}; only the raw text is used")


def parse(cfg: DictConfig, source: str, root: Path) -> Path:
    return task_reading(source).role("prepare").parse(cfg, root)


def prepare(cfg: DictConfig, root: Path) -> dict:
    dataset = cfg.dataset
    output = prepared_dir(cfg, dataset, root)
    return get_task(dataset.task).role("prepare").prepare(dataset, cfg, root, output)
