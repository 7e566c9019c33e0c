"""Validation-only sweep: train experiment variants and record their best validation figure.

Used to tune conf/experiment on the validation split (the test split is never touched here).
Each line of the sweep file is `label: hydra overrides`; results append to a JSONL file.

    python benchmarks/val_sweep.py benchmarks/sweeps/imdb.txt --out benchmarks/results/imdb.jsonl

Datasets must be prepared already (`dvc repro prepare_imdb@...` or `rnnlab prepare`).
Nothing is logged to MLflow: this measures configurations, the pipeline records runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from rnnlab.datasets import load_splits
from rnnlab.schema import validate_experiment
from rnnlab.settings import compose_run, repo_root
from rnnlab.sweep import OBJECTIVE
from rnnlab.training import experiment_paths, fit, input_layout


def read_sweep(path: Path) -> list[tuple[str, list[str]]]:
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            label, _, overrides = line.partition(":")
            runs.append((label.strip(), overrides.split()))
    return runs


def run_one(label: str, overrides: list[str], root: Path) -> dict:
    cfg = validate_experiment(compose_run(overrides, root))
    splits = load_splits(experiment_paths(cfg, root)["data"], input_layout(cfg))
    checkpoint = Path(tempfile.mkdtemp(prefix="sweep-"))
    try:
        model, history, seconds = fit(cfg, splits, checkpoint)
    finally:
        shutil.rmtree(checkpoint, ignore_errors=True)
    key, pick = OBJECTIVE[splits.spec.task]
    best = pick(history[key])
    return {
        "label": label,
        "overrides": overrides,
        key: round(float(best), 6),
        "best_epoch": int(history[key].tolist().index(best)) + 1,
        "epochs": len(history),
        "seconds": round(seconds, 1),
        "seconds_per_epoch": round(seconds / len(history), 1),
        "params": model.count_params(),
        # Every epoch's validation figures, so a noisy best epoch can be read in its context.
        "curves": {
            name: [round(float(value), 6) for value in history[name]]
            for name in history.columns
            if name.startswith("val_")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="file of `label: overrides` lines")
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to append to")
    parser.add_argument("--only", nargs="*", help="labels to run (default: all)")
    args = parser.parse_args()
    root = repo_root()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for label, overrides in read_sweep(args.sweep):
        if args.only and label not in args.only:
            continue
        started = time.perf_counter()
        result = run_one(label, overrides, root)
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        with args.out.open("a", encoding="utf-8") as out:
            out.write(json.dumps(result) + "\n")
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
