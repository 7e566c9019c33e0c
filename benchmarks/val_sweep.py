"""Validation-only sweep: train experiment variants and record their best validation figure.

Used to tune conf/experiment on the validation split (the test split is never touched here).
Each line of the sweep file is `label: hydra overrides`; results append to a JSONL file.

    python benchmarks/val_sweep.py benchmarks/sweeps/imdb.txt --out benchmarks/results/imdb.jsonl

The pipeline's prepared datasets are read from data/prepared; a variant no stage prepares
(e.g. `dataset.seq_len=256`) is prepared once into data/sweep_splits/variants/.
Nothing is logged to MLflow: this measures configurations, the pipeline records runs.

One validation split is a noisy judge (5,000 reviews in ten blocks of movies: choices worth
1-3 points on it did not carry to test), so `--split-seeds 42 43 44` runs every variant on
several IMDB validation splits (`dataset.split_seed`) and prints each variant's mean. The
pipeline's own split (the config's seed) is read from data/prepared; the others are
prepared once into data/sweep_splits/seed<N>/ (the prepared folder's name does not carry
the seed, so they must not share a folder with DVC's).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import keras
from omegaconf import DictConfig, OmegaConf

from rnnlab.config.settings import compose_run, experiment_paths, repo_root
from rnnlab.data.splits import input_layout
from rnnlab.pipeline.stages import prepare
from rnnlab.tasks import builtin_tasks, get_task
from rnnlab.tasks import load_prepared as load_splits
from rnnlab.training.experiment import validate_experiment
from rnnlab.training.fit import fit

SPLIT_ROOT = "data/sweep_splits"
OBJECTIVE_KEYS = [get_task(task).validation_metric for task in builtin_tasks()]


def read_sweep(path: Path) -> list[tuple[str, list[str]]]:
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            label, _, overrides = line.partition(":")
            runs.append((label.strip(), overrides.split()))
    return runs


def on_other_split(cfg: DictConfig, seed: int, root: Path) -> DictConfig:
    """The variant on validation split `seed`, with its own prepared folder (prepared on
    first use: the folder's name does not carry the seed, and DVC owns data/prepared)."""
    if "split_seed" not in cfg.dataset:
        raise SystemExit(
            f"--split-seeds needs an IMDB dataset (dataset.split_seed); {cfg.dataset.name} has "
            "one fixed validation split: leave --split-seeds out"
        )
    cfg = OmegaConf.merge(cfg, {"dataset": {"split_seed": seed}})
    return prepared_in(cfg, f"{SPLIT_ROOT}/seed{seed}", root)


def prepared_in(cfg: DictConfig, folder: str, root: Path) -> DictConfig:
    """The variant with its prepared data in `folder`, prepared there on first use."""
    cfg = OmegaConf.merge(cfg, {"paths": {"prepared": folder}})
    if not experiment_paths(cfg, root)["data"].exists():
        print(f"preparing {cfg.dataset.name} in {folder}", flush=True)
        prepare(cfg, root)
    return cfg


def run_one(label: str, overrides: list[str], root: Path, seed: int | None = None) -> dict:
    """Train the variant on validation split `seed` (None: the config's own split)."""
    cfg = validate_experiment(compose_run(overrides, root))
    if seed is not None and seed != cfg.dataset.get("split_seed"):
        cfg = on_other_split(cfg, seed, root)
    elif not experiment_paths(cfg, root)["data"].exists():
        # A dataset variant no stage prepares: DVC owns data/prepared, so it goes beside.
        cfg = prepared_in(cfg, f"{SPLIT_ROOT}/variants", root)
    splits = load_splits(experiment_paths(cfg, root)["data"], input_layout(cfg))
    # Each variant starts from an empty Keras state, as a pipeline stage (one process per
    # model) does; ten models built in one process once halved the LSTM's speed (docs/results.md,
    # Speed), so without it a later variant's seconds per epoch are not comparable.
    keras.backend.clear_session()
    checkpoint = Path(tempfile.mkdtemp(prefix="sweep-"))
    try:
        model, history, seconds = fit(cfg, splits, checkpoint)
    finally:
        shutil.rmtree(checkpoint, ignore_errors=True)
    task = get_task(splits.spec.task)
    key = task.validation_metric
    best = history[key].max() if task.higher_is_better else history[key].min()
    return {
        "label": label,
        "overrides": overrides,
        "split_seed": cfg.dataset.get("split_seed"),
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


def split_means(records: list[dict]) -> list[str]:
    """Per label: the mean best validation figure over the splits it ran on, and its range."""
    by_label: dict[str, list[float]] = {}
    for record in records:
        key = next(k for k in OBJECTIVE_KEYS if k in record)
        by_label.setdefault(record["label"], []).append(record[key])
    return [
        f"{label}: mean {sum(values) / len(values):.4f} over {len(values)} splits "
        f"(min {min(values):.4f}, max {max(values):.4f})"
        for label, values in by_label.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="file of `label: overrides` lines")
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to append to")
    parser.add_argument("--only", nargs="*", help="labels to run (default: all)")
    parser.add_argument(
        "--split-seeds",
        nargs="*",
        type=int,
        default=[None],
        help="IMDB validation splits to run each variant on (default: the config's own)",
    )
    args = parser.parse_args()
    root = repo_root()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for label, overrides in read_sweep(args.sweep):
        if args.only and label not in args.only:
            continue
        for seed in args.split_seeds:
            started = time.perf_counter()
            result = run_one(label, overrides, root, seed)
            result["wall_seconds"] = round(time.perf_counter() - started, 1)
            with args.out.open("a", encoding="utf-8") as out:
                out.write(json.dumps(result) + "\n")
            print(json.dumps(result), flush=True)
            records.append(result)
    print("\n".join(split_means(records)))


if __name__ == "__main__":
    main()
