"""Does XLA (`model.compile(jit_compile=True)`) speed up training on this CPU?

Keras 3 leaves XLA off on CPU-only machines (`jit_compile="auto"` resolves to False there),
so the pipeline trains without it. This times the plain Keras training loop of each
experiment's model (speed.py's plain side: same model, optimizer and seed, NumPy input)
with XLA off and on, alternating `--repeats` times; the second of two epochs of `--steps`
batches is timed (the first traces and, with XLA, compiles). Medians are reported.

    .venv/bin/python benchmarks/xla.py --experiments shakespeare_char_gru --steps 20
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from speed import experiment, machine, plain_keras_epoch

from rnnlab.datasets import load_splits
from rnnlab.settings import repo_root
from rnnlab.training import experiment_paths


def compare(name: str, steps: int, repeats: int, root: Path) -> str:
    cfg = experiment(name, steps, root)
    splits = load_splits(experiment_paths(cfg, root)["data"])
    seconds: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for mode in seconds:
            seconds[mode].append(plain_keras_epoch(cfg, splits, jit_compile=mode))
    off, on = (statistics.median(seconds[m]) for m in (False, True))
    return f"| {name} | {steps} | {off:.2f} | {on:.2f} | {off / on:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", required=True)
    parser.add_argument("--steps", type=int, default=20, help="batches per timed epoch")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    root = repo_root()
    print(f"{machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| experiment | batches | s, XLA off | s, XLA on | speed-up |")
    print("|---|---|---|---|---|")
    for name in args.experiments:
        print(compare(name, args.steps, args.repeats, root), flush=True)


if __name__ == "__main__":
    main()
