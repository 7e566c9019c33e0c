"""Seed 002's sine data: one-step-ahead prediction from `steps` previous samples.

Saved in two layouts: the book's (N, 1, steps) - one time step with `steps` features, as
seed 002 feeds its LSTM - and real time steps (N, steps, 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnlab.io import atomic_dir, save_arrays, write_json
from rnnlab.tasks.sine import TASK

LAYOUTS = ("book", "steps")


def make_windows(curve: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.arange(len(curve) - steps)[:, None] + np.arange(steps)[None, :]
    return curve[index].astype(np.float32), curve[steps:, None].astype(np.float32)


def curves(dataset) -> dict[str, np.ndarray]:
    """Train curve from 0, test curve continuing right after it (seed 002's linspace calls)."""
    test_start = (dataset.train_examples + dataset.steps) * dataset.gap
    test_end = test_start + (dataset.test_examples + dataset.steps) * dataset.gap
    n_train = dataset.train_examples + dataset.steps
    n_test = dataset.test_examples + dataset.steps
    return {
        "train": np.sin(np.linspace(0, test_start, n_train, dtype=np.float32)),
        "test": np.sin(np.linspace(test_start, test_end, n_test, dtype=np.float32)),
    }


def sample_spacing(dataset) -> float:
    test_start = (dataset.train_examples + dataset.steps) * dataset.gap
    return test_start / (dataset.train_examples + dataset.steps - 1)


def split_windows(dataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    curve = curves(dataset)
    x, y = make_windows(curve["train"], dataset.steps)
    boundary = len(x) - round(len(x) * dataset.val_fraction)
    return {
        "train": (x[:boundary], y[:boundary]),
        "val": (x[boundary:], y[boundary:]),
        "test": make_windows(curve["test"], dataset.steps),
    }


def prepare(dataset, cfg, root: Path, output: Path) -> dict:
    """The prepare stage: the curves are generated, nothing is read."""
    return write_curves(dataset, output)


def write_curves(dataset, output: Path) -> dict:
    arrays = {}
    for split, (x, y) in split_windows(dataset).items():
        arrays |= {
            f"x_{split}_steps": x[:, :, None],
            f"x_{split}_book": x[:, None, :],
            f"y_{split}": y,
        }
    with atomic_dir(output) as folder:
        save_arrays(folder, **arrays)
        meta = {
            "task": TASK.name,
            "name": dataset.name,
            "layouts": list(LAYOUTS),
            "steps": dataset.steps,
            "gap": dataset.gap,
            # Exact distance between samples of seed 002's linspace (gap up to rounding).
            "spacing": sample_spacing(dataset),
            "sizes": {s: len(arrays[f"y_{s}"]) for s in ("train", "val", "test")},
        }
        write_json(folder / "meta.json", meta)
    return meta
