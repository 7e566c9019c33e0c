"""Do XLA, unrolled recurrent layers or bfloat16 speed up training on this CPU?

Keras 3 leaves XLA off on CPU-only machines (`jit_compile="auto"` resolves to False there)
and runs a recurrent layer's time steps in a graph loop, so the pipeline trains that way
(`loop`). This times the plain Keras training loop of each experiment's model (speed.py's
plain side: same model, optimizer and seed, NumPy input) that way and with XLA on (`xla`,
`jit_compile=True`) or the recurrent layers unrolled (`unroll`, Keras's `unroll=True`: one
op per time step, which needs fixed-length batches, e.g. the character model's blocks) or
in bfloat16 (`bf16`, Keras's `mixed_bfloat16` policy: float32 weights, bfloat16 products,
which CPUs with AVX512-BF16 or AMX run natively and others emulate), alternating
`--repeats` times. Of two epochs of `--steps` batches the first traces the graph (and
compiles it, with XLA), the second is timed; medians of both are reported.

    .venv/bin/python benchmarks/graph_modes.py --experiments shakespeare_char_gru --steps 20

`--set` times a variant (Hydra overrides), e.g. the same 2,048 sequences in larger batches:
`--modes loop --steps 8 --set trainer.batch_size=256`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from speed import experiment, machine, plain_keras_epochs

from rnnlab.config.settings import experiment_paths, repo_root
from rnnlab.tasks import load_prepared as load_splits

MODES = {
    "loop": {},
    "xla": {"jit_compile": True},
    "unroll": {"unroll": True},
    "bf16": {"policy": "mixed_bfloat16"},
}


def compare(
    name: str, steps: int, repeats: int, modes: list[str], root: Path, extra: list[str]
) -> list[str]:
    cfg = experiment(name, steps, root, extra)
    splits = load_splits(experiment_paths(cfg, root)["data"])
    epochs: dict[str, list[list[float]]] = {mode: [] for mode in modes}
    for _ in range(repeats):
        for mode in modes:
            epochs[mode].append(plain_keras_epochs(cfg, splits, **MODES[mode]))
    first = {m: statistics.median(e[0] for e in epochs[m]) for m in modes}
    timed = {m: statistics.median(e[1] for e in epochs[m]) for m in modes}
    base = timed[modes[0]]
    return [
        f"| {name} | {steps} | {m} | {first[m]:.1f} | {timed[m]:.2f} | {base / timed[m]:.2f} |"
        for m in modes
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", required=True)
    parser.add_argument("--steps", type=int, default=20, help="batches per timed epoch")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="Hydra overrides, e.g. trainer.batch_size=256",
    )
    args = parser.parse_args()
    root = repo_root()
    print(f"{machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(f"Speed-up: against the first mode, {args.modes[0]}. Overrides: {args.set or 'none'}.\n")
    print("| experiment | batches | mode | s, first epoch (traces) | s, timed epoch | speed-up |")
    print("|---|---|---|---|---|---|")
    for name in args.experiments:
        rows = compare(name, args.steps, args.repeats, args.modes, root, args.set)
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
