"""The IMDB task's `dataset:` settings: their names and types, checked before any work.

The values, defaults included, live in conf/dataset/imdb.yaml and reach every stage through
params.yaml, so DVC sees each one as a stage parameter; this module only types them, and
no stage depends on it (tests/test_stage_deps.py checks that every field is in the conf).
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class ImdbDataset:
    task: str = MISSING
    source: str = MISSING
    vocab_size: int = MISSING
    max_len: int = MISSING
    read_len: int = MISSING
    padding: str = MISSING
    truncating: str = MISSING
    val_fraction: float = MISSING
    split_seed: int = MISSING
    val_block_size: int = MISSING
    word_vectors: int = MISSING
    word_vector_epochs: int = MISSING
    punctuation: bool = MISSING
    name: str = MISSING


DATASET = ImdbDataset
