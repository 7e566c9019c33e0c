"""Plain stage functions: each takes a composed config and the repo root.

The CLI (rnnlab.cli) is a thin wrapper; tests call these directly.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from rnnlab.data import download as dl
from rnnlab.data import imdb, shakespeare, sine
from rnnlab.errors import ConfigError
from rnnlab.settings import mirror_dir, resolve_path

log = logging.getLogger(__name__)
REVIEWS_TABLE = "imdb_reviews.parquet"


def raw_file(cfg: DictConfig, source_name: str, root: Path) -> Path:
    return resolve_path(cfg.paths.raw, root) / cfg.sources[source_name].filename


def reviews_table(cfg: DictConfig, root: Path) -> Path:
    return resolve_path(cfg.paths.interim, root) / REVIEWS_TABLE


def prepared_dir(cfg: DictConfig, dataset: DictConfig, root: Path) -> Path:
    return resolve_path(cfg.paths.prepared, root) / dataset.name


def download(cfg: DictConfig, names: list[str], root: Path) -> list[Path]:
    unknown = sorted(set(names) - set(cfg.sources))
    if unknown:
        raise ConfigError(f"unknown source(s) {unknown}; allowed: {sorted(cfg.sources)}")
    raw_dir = resolve_path(cfg.paths.raw, root)
    return [dl.fetch(dl.Source(**cfg.sources[name]), raw_dir, mirror_dir()) for name in names]


def parse_imdb(cfg: DictConfig, root: Path) -> Path:
    output = reviews_table(cfg, root)
    imdb.write_reviews(raw_file(cfg, "imdb", root), output)
    return output


def prepare(cfg: DictConfig, root: Path) -> dict:
    dataset = cfg.dataset
    output = prepared_dir(cfg, dataset, root)
    if dataset.task == "imdb":
        return imdb.prepare(dataset, reviews_table(cfg, root), output)
    if dataset.task == "shakespeare":
        return shakespeare.prepare(dataset, raw_file(cfg, dataset.source, root), output)
    if dataset.task == "sine":
        return sine.prepare(dataset, output)
    raise ConfigError(f"dataset.task={dataset.task!r} is unknown; allowed: imdb, shakespeare, sine")
