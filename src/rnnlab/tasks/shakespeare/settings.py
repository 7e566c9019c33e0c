"""The Shakespeare task's `dataset:` settings: their names and types, checked before any work.

The values live in conf/dataset/shakespeare.yaml and reach every stage through params.yaml;
this module only types them, and no stage depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class ShakespeareDataset:
    task: str = MISSING
    source: str = MISSING
    seq_len: int = MISSING
    val_fraction: float = MISSING
    val_seq_len: int = MISSING
    name: str = MISSING


DATASET = ShakespeareDataset
