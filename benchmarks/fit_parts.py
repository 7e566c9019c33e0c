"""Which part of the pipeline's `fit` costs throughput? One configuration per process.

`speed.py` compares the whole pipeline `fit` with a plain `model.fit(x, y)`. This script
times the parts separately, each in a fresh process (so no graph state is shared), on the
same model: plain NumPy input; the pipeline's tf.data input (`rnnlab.data.arrays.to_dataset`);
plain input plus the pipeline's callbacks and one validation batch per epoch.

    for part in numpy tfdata callbacks; do
      .venv/bin/python benchmarks/fit_parts.py $part --experiment imdb_lstm
    done
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import keras

from rnnlab.config.settings import compose_run, experiment_paths, repo_root
from rnnlab.data.arrays import to_dataset
from rnnlab.tasks import load_prepared as load_splits
from rnnlab.training.experiment import validate_experiment
from rnnlab.training.fit import build_and_compile, callbacks

PARTS = ("numpy", "tfdata", "callbacks")


class SecondEpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=PARTS)
    parser.add_argument("--experiment", default="imdb_lstm")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    root = repo_root()
    # The fit is what is timed, not a refit (whose given epochs may exceed these 2).
    overrides = [f"experiment={args.experiment}", "trainer.epochs=2", "trainer.refit=false"]
    overrides += [f"trainer.steps_per_epoch={args.steps}", "trainer.early_stopping.patience=0"]
    cfg = validate_experiment(compose_run(overrides, root))
    splits = load_splits(experiment_paths(cfg, root)["data"])
    x, y = splits.arrays["train"]
    batch = cfg.trainer.batch_size
    keras.utils.set_random_seed(cfg.trainer.seed)
    model = build_and_compile(cfg, splits, args.steps * 2)
    timer = SecondEpochTimer()
    common = {"epochs": 2, "steps_per_epoch": args.steps, "verbose": 0}
    with tempfile.TemporaryDirectory() as checkpoint:
        if args.part == "tfdata":
            data = to_dataset(x, y, batch, shuffle=True, seed=cfg.trainer.seed).repeat()
            model.fit(data, callbacks=[timer], **common)
        else:
            extra = {}
            if args.part == "callbacks":
                x_val, y_val = (a[:batch] for a in splits.arrays["val"])
                extra = {
                    "validation_data": (x_val, y_val.astype("float32")),
                    "callbacks": [timer, *callbacks(cfg.trainer, Path(checkpoint), True)],
                }
            model.fit(
                x,
                y.astype("float32"),
                batch_size=batch,
                shuffle=True,
                **({"callbacks": [timer]} | extra),
                **common,
            )
    print(f"| {args.experiment} | {args.part} | {args.steps * batch / timer.seconds:,.0f} |")


if __name__ == "__main__":
    main()
