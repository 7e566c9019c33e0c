"""Speed of the pipeline, measured side by side in one run (see benchmarks/README.md).

1. Training throughput: `rnnlab.training.fit` (tf.data index-gather input, checkpoint and
   CSV callbacks, exactly as the train stage runs it) vs a plain Keras script
   (`model.fit(x, y)` on the same NumPy arrays, same model and seed). Each side trains
   2 epochs of `--steps` batches (0 = the whole training split, as the train stage does);
   the second epoch is timed (the first traces the graph). The pipeline's per-epoch costs
   (a checkpoint, one validation batch) weigh more in a short epoch than in a real one.
   Sides alternate `--repeats` times; medians are reported.
2. MLflow logging overhead per epoch: `training.EpochLogger` (what every epoch logs) into a
   fresh sqlite store, as a share of that model's epoch time.
3. IMDB prepare of all 50,000 reviews (vocabulary, encoding, padding, saving), in-process.
4. No-op `dvc repro` of the whole pipeline (run where the pipeline is reproduced).

    .venv/bin/python benchmarks/speed.py --out benchmarks/results/speed.md
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import mlflow
import numpy as np

from rnnlab.config.settings import compose_run, experiment_paths, load_params, repo_root
from rnnlab.tasks import get_task
from rnnlab.tasks import load_prepared as load_splits
from rnnlab.training.experiment import validate_experiment
from rnnlab.training.fit import fit, make_optimizer, steps_per_epoch

EXPERIMENTS = ["imdb_pool", "imdb_lstm", "imdb_gru", "imdb_naive_bayes", "shakespeare_char_gru"]


class EpochTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def experiment(name: str, steps: int, root: Path, extra: list[str] | None = None):
    """The experiment as a 2-epoch fit of `steps` batches, plus `extra` Hydra overrides."""
    per_epoch = steps or "null"  # 0: the whole training split
    overrides = [f"experiment={name}", *(extra or [])]
    overrides += ["trainer.epochs=2", f"trainer.steps_per_epoch={per_epoch}"]
    overrides += ["trainer.early_stopping.patience=0", "trainer.validation_steps=1"]
    # The fit is what is timed, not a refit (whose given epochs may exceed these 2).
    overrides += ["trainer.refit=false"]
    return validate_experiment(compose_run(overrides, root))


def pipeline_epoch(cfg, splits) -> float:
    keras.backend.clear_session()  # each side starts from an empty graph state
    timer = EpochTimes()
    with tempfile.TemporaryDirectory() as checkpoint:
        fit(cfg, splits, Path(checkpoint), [timer])
    return timer.seconds[-1]


def unrolled(model: keras.Model) -> keras.Model:
    """The same network, weights included, with every recurrent layer unrolled (Keras's
    `unroll=True`: the time loop written out as one op per step, for fixed-length input)."""

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.RNN):
            config["unroll"] = True
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


def plain_keras_epochs(
    cfg,
    splits,
    jit_compile: bool | str = "auto",
    unroll: bool = False,
    policy: str = "float32",
) -> list[float]:
    """Seconds of each of the 2 epochs of the plain Keras loop (the first traces the graph),
    in Keras's dtype `policy` (graph_modes.py's bf16; the pipeline trains in float32)."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        return timed_fit(cfg, splits, jit_compile, unroll)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def timed_fit(cfg, splits, jit_compile: bool | str, unroll: bool) -> list[float]:
    from rnnlab.models.registry import adapt_to_training_data, build_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.trainer.seed)
    x, y = splits.arrays["train"]
    model = build_model(cfg.model, splits.spec)
    adapt_to_training_data(cfg.model, model, x, y)
    model = unrolled(model) if unroll else model
    loss, metrics = get_task(splits.spec.task).loss_and_metrics()
    # The experiment's own optimizer (learning rate, schedule, weight decay, clipping), so
    # the two sides differ only in the input path and the pipeline's callbacks.
    steps = steps_per_epoch(len(x), cfg.trainer)
    total_steps = steps * cfg.trainer.epochs
    model.compile(
        optimizer=make_optimizer(cfg.trainer, total_steps, steps),
        loss=loss,
        metrics=metrics,
        jit_compile=jit_compile,  # "auto": Keras's default (off on CPU); graph_modes.py
    )
    timer = EpochTimes()
    model.fit(
        x,
        y.astype(np.float32),
        batch_size=cfg.trainer.batch_size,
        epochs=2,
        steps_per_epoch=steps,
        shuffle=True,
        callbacks=[timer],
        verbose=0,
    )
    return timer.seconds


def plain_keras_epoch(cfg, splits) -> float:
    return plain_keras_epochs(cfg, splits)[-1]


def throughput(
    root: Path, steps: int, repeats: int, experiments: list[str]
) -> tuple[list[str], dict[str, float]]:
    rows, epoch_seconds = [], {}
    for name in experiments:
        cfg = experiment(name, steps, root)
        splits = load_splits(experiment_paths(cfg, root)["data"])
        n = len(splits.arrays["train"][0])
        samples = min(steps_per_epoch(n, cfg.trainer) * cfg.trainer.batch_size, n)
        ours, plain = [], []
        for _ in range(repeats):
            ours.append(samples / pipeline_epoch(cfg, splits))
            plain.append(samples / plain_keras_epoch(cfg, splits))
        a, b = statistics.median(ours), statistics.median(plain)
        epoch_seconds[name] = n / a
        rows.append(f"| {name} | {a:,.0f} | {b:,.0f} | {a / b:.2f} |")
        print(rows[-1], flush=True)
    return rows, epoch_seconds


def mlflow_overhead(epoch_seconds: dict[str, float], epochs: int = 30) -> list[str]:
    from rnnlab.pipeline.train import EpochLogger

    with tempfile.TemporaryDirectory() as store:
        mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
        logs = {"loss": 0.3, "accuracy": 0.9, "val_loss": 0.3, "val_accuracy": 0.9}
        with mlflow.start_run():
            logger = EpochLogger()
            logger.on_epoch_end(0, logs)  # first call creates the metric rows
            started = time.perf_counter()
            for epoch in range(1, epochs + 1):
                logger.on_epoch_end(epoch, logs)
            per_epoch = (time.perf_counter() - started) / epochs
    rows = [f"| MLflow metrics per epoch (sqlite) | {per_epoch * 1000:.1f} ms |"]
    for name, seconds in epoch_seconds.items():
        rows.append(
            f"| ... as share of a full {name} epoch ({seconds:.1f} s) | "
            f"{100 * per_epoch / seconds:.3f} % |"
        )
    return rows


def prepare_seconds(root: Path) -> str:
    from omegaconf import OmegaConf

    from rnnlab.pipeline import stages

    params = load_params(root)
    dataset = params.datasets.imdb.v10k_len500_post
    cfg = OmegaConf.merge({"paths": params.paths, "sources": params.sources}, {"dataset": dataset})
    scratch = Path(tempfile.mkdtemp(prefix="prepare-bench-"))
    try:
        cfg.paths.prepared = str(scratch)  # never touch the pipeline's own outputs
        started = time.perf_counter()
        meta = stages.prepare(cfg, root)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    total = sum(meta["sizes"].values())
    return f"| IMDB prepare, {total:,} reviews ({dataset.name}) | {seconds:.1f} s |"


def noop_repro_seconds(root: Path) -> str:
    dvc = shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")
    status = subprocess.run([dvc, "status", "-q"], cwd=root, capture_output=True)
    if status.returncode != 0:
        return "| no-op `dvc repro` | not measured: pipeline not up to date here |"
    started = time.perf_counter()
    subprocess.run([dvc, "repro", "-q"], cwd=root, check=True, capture_output=True)
    return f"| no-op `dvc repro` (whole pipeline) | {time.perf_counter() - started:.1f} s |"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
        if Path("/proc/cpuinfo").exists()
        else cpu
    )
    return f"{os.cpu_count()} vCPU {model}, Python {platform.python_version()}, TF {tf_version()}"


def tf_version() -> str:
    import tensorflow as tf

    return tf.__version__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=60, help="batches per timed epoch (0 = whole split)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the report here (markdown)")
    parser.add_argument("--experiments", nargs="+", default=EXPERIMENTS, metavar="NAME")
    args = parser.parse_args()
    root = repo_root()
    lines = [
        f"Machine: {machine()}",
        "",
        "| model | pipeline samples/s | plain Keras samples/s | ratio |",
        "|---|---|---|---|",
    ]
    rows, epoch_seconds = throughput(root, args.steps, args.repeats, args.experiments)
    lines += [*rows, "", "| measurement | value |", "|---|---|"]
    lines += mlflow_overhead(epoch_seconds)
    lines.append(prepare_seconds(root))
    lines.append(noop_repro_seconds(root))
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
