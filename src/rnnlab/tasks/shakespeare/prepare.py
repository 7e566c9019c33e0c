"""Tiny Shakespeare at character level: first 90% train, last 10% validation.

The character vocabulary is taken from the whole text, as nanoGPT does, so every
validation character has an id; ids follow sorted character order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rnnlab.config.settings import resolve_path
from rnnlab.errors import DataError
from rnnlab.io import atomic_dir, save_arrays, write_json
from rnnlab.tasks.shakespeare import TASK, VOCABULARY_FILE


def read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if not text:
        raise DataError(f"{path} is empty; re-download it (dvc repro download@shakespeare)")
    return text


def windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping chunks of seq_len+1 ids split into (input, target shifted by one)."""
    count = len(ids) // (seq_len + 1)
    chunks = ids[: count * (seq_len + 1)].reshape(count, seq_len + 1)
    return chunks[:, :-1], chunks[:, 1:]


# The setting that gives each split's block length (validation is the scored split).
BLOCK_SETTING = {"train": "seq_len", "val": "val_seq_len"}


def prepare(dataset, cfg, root: Path, output: Path) -> dict:
    """The prepare stage: a dataset variant from the raw text download."""
    source = resolve_path(cfg.paths.raw, root) / cfg.sources[dataset.source].filename
    return prepare_text(dataset, source, output)


def prepare_text(dataset, source: Path, output: Path) -> dict:
    text = read_text(source)
    vocabulary = sorted(set(text))
    lookup = np.full(max(map(ord, vocabulary)) + 1, -1, dtype=np.int32)
    lookup[[ord(c) for c in vocabulary]] = np.arange(len(vocabulary))
    ids = lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)].astype(np.int32)
    boundary = int(len(ids) * (1 - dataset.val_fraction))
    arrays, sizes = {}, {}
    for split, part in (("train", ids[:boundary]), ("val", ids[boundary:])):
        key = BLOCK_SETTING[split]
        length = dataset[key]
        x, y = windows(part, length)
        if len(x) == 0:
            raise DataError(
                f"the {split} part has {len(part)} characters, fewer than {key}+1="
                f"{length + 1}; use a longer text or a smaller dataset.{key}"
            )
        arrays |= {f"x_{split}": x, f"y_{split}": y}
        sizes[split] = {"sequences": len(x), "characters": len(part), "block": length}
    with atomic_dir(output) as folder:
        save_arrays(folder, **arrays)
        (folder / VOCABULARY_FILE).write_text(json.dumps(vocabulary), encoding="utf-8")
        meta = {
            "task": TASK.name,
            "name": dataset.name,
            "vocab_size": len(vocabulary),
            "seq_len": dataset.seq_len,
            "val_seq_len": dataset.val_seq_len,
            "sizes": sizes,
        }
        write_json(folder / "meta.json", meta)
    return meta
