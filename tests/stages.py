"""The experiment stages in pipeline order, for tests that need a trained, packaged model."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from rnnlab.pipeline.package import package
from rnnlab.pipeline.select import run_select
from rnnlab.pipeline.train import train as train_stage


def train(cfg: DictConfig, root: Path) -> dict:
    """select -> train -> package, as `dvc repro` runs them before evaluate."""
    run_select(cfg, root)
    result = train_stage(cfg, root)
    return result | package(cfg, root)
