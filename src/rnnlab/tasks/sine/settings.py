"""The sine task's `dataset:` settings: their names and types, checked before any work.

The values live in conf/dataset/sine.yaml and reach every stage through params.yaml; this
module only types them, and no stage depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class SineDataset:
    task: str = MISSING
    train_examples: int = MISSING
    test_examples: int = MISSING
    steps: int = MISSING
    gap: float = MISSING
    val_fraction: float = MISSING
    name: str = MISSING


DATASET = SineDataset
