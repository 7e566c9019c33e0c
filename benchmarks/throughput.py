"""Training throughput: the pipeline's input path vs a plain Keras script, same model and arrays.

Both sides build the same model (rnnlab's builder, same seed) on the same prepared arrays;
the pipeline side feeds `rnnlab.datasets.to_dataset` (tf.data, shuffle, prefetch) through
`model.fit` exactly as `rnnlab.training.fit` does, the plain side calls
`model.fit(x, y, batch_size=...)` on NumPy arrays. One warm-up epoch of `--steps` batches
(graph tracing), then `--steps` timed batches; the sides alternate `--repeats` times and
the median is reported.

    .venv/bin/python benchmarks/throughput.py --data data/prepared/imdb_v10000_len500_postpost_val0.2
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import keras
import numpy as np

from rnnlab.datasets import load_splits, to_dataset
from rnnlab.settings import compose_run
from rnnlab.training import loss_and_metrics

MODELS = {
    "pool": "imdb_pool",
    "simple_rnn": "imdb_simple_rnn",
    "lstm": "imdb_lstm",
    "gru": "imdb_gru",
}


def build(experiment: str, splits):
    from rnnlab.models import build_model

    cfg = compose_run([f"experiment={experiment}"])
    keras.utils.set_random_seed(0)
    model = build_model(cfg.model, splits.spec)
    loss, metrics = loss_and_metrics(splits.spec.task)
    model.compile(optimizer="adam", loss=loss, metrics=metrics)
    return model


def timed_fit(model, fit_kwargs: dict, steps: int) -> float:
    model.fit(**fit_kwargs, epochs=1, steps_per_epoch=steps, verbose=0)  # warm-up / tracing
    started = time.perf_counter()
    model.fit(**fit_kwargs, epochs=1, steps_per_epoch=steps, verbose=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    splits = load_splits(args.data)
    x, y = splits.arrays["train"]
    samples = args.steps * args.batch_size
    print("| model | pipeline samples/s | plain Keras samples/s | ratio |")
    print("|---|---|---|---|")
    for name in args.models:
        pipeline, plain = [], []
        for _ in range(args.repeats):
            ds = to_dataset(x, y, args.batch_size, shuffle=True, seed=0).repeat()
            pipeline.append(samples / timed_fit(build(MODELS[name], splits), {"x": ds}, args.steps))
            plain_kwargs = {"x": x, "y": y.astype(np.float32), "batch_size": args.batch_size}
            plain.append(samples / timed_fit(build(MODELS[name], splits), plain_kwargs, args.steps))
        ours, theirs = statistics.median(pipeline), statistics.median(plain)
        print(f"| {name} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
