"""`trainer.strategy`: data-parallel training on tf.distribute's own strategies.

- `default`: TensorFlow's default strategy (one device, no distribution).
- `mirrored`: `tf.distribute.MirroredStrategy`, synchronous replicas on every local GPU
  (the CPU when there is none).
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, synchronous replicas on
  several machines (or processes) described by `TF_CONFIG`; every worker runs the same
  `rnnlab train` command. Only the chief (worker 0, or the `chief` task) logs to MLflow and
  writes the experiment's outputs; the others keep their resumable state in their own
  checkpoint folder.

`trainer.batch_size` stays the *global* batch: tf.distribute splits each batch across the
replicas, so a run on N workers takes the same optimisation steps as a run on one.
"""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

from rnnlab.config.schema import STRATEGIES
from rnnlab.errors import ConfigError

log = logging.getLogger(__name__)
TF_CONFIG_ENV = "TF_CONFIG"


def use_threads(count: int) -> None:
    """`trainer.threads` intra-op threads for this process (0: TensorFlow's one per core).
    TensorFlow fixes the count when it starts: a stage process (rnnlab train / evaluate)
    sets it first; a process that already ran TensorFlow with another count (a notebook,
    pytest, a sweep in one process) keeps its own, with a warning, since only the last
    digits of the results depend on it."""
    if not count:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
    except RuntimeError:
        log.warning(
            "trainer.threads=%d not applied: TensorFlow in this process already runs with %d "
            "intra-op threads (0: one per core); results can differ from a fresh process "
            "(rnnlab train / dvc repro) in the last digits",
            count,
            tf.config.threading.get_intra_op_parallelism_threads(),
        )


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy named by `trainer.strategy`. Create it before any other TF work:
    collective ops (multi_worker) can only be configured at program start-up."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        patch_keras_for_distribution()
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        check_tf_config(os.environ.get(TF_CONFIG_ENV))
        patch_keras_for_distribution()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"trainer.strategy={name!r} is unknown; allowed: {', '.join(STRATEGIES)}")


def check_tf_config(raw: str | None) -> None:
    fix = (
        f"set {TF_CONFIG_ENV} on every worker, e.g. "
        '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}} (see docs/scaling.md)'
    )
    if not raw:
        raise ConfigError(f"trainer.strategy=multi_worker needs {TF_CONFIG_ENV}; {fix}")
    try:
        spec = json.loads(raw)
        workers = spec["cluster"]["worker"]
        task = spec["task"]
        task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{TF_CONFIG_ENV} is not a valid cluster spec ({exc!r}); {fix}") from exc
    if not workers:
        raise ConfigError(f"{TF_CONFIG_ENV} lists no workers; {fix}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the one process that logs and writes outputs."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief_task = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief_task


def worker_label(strategy: tf.distribute.Strategy) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "single"
    return f"{resolver.task_type}-{resolver.task_id}"


def shard_by_batch(dataset: tf.data.Dataset, strategy: tf.distribute.Strategy) -> tf.data.Dataset:
    """Our inputs come from in-memory arrays, not files: shard them by element (DATA).

    Without this, tf.data tries FILE sharding first and falls back with a warning."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return dataset.with_options(options)
    return dataset


_PATCHED = False


def patch_keras_for_distribution() -> None:
    """Work around two bugs of Keras 3's TF trainer with tf.distribute strategies (under
    MultiWorkerMirroredStrategy `fit` fails outright: keras-team/keras#20585, open):

    1. `_maybe_symbolic_build` takes the first batch from the training iterator only to
       learn the input shapes, so training silently skips that batch (under every
       distribution strategy), and reduces it across workers, which fails under
       collective all-reduce ("Attempt to convert a value (PerReplica...)"). The
       dataset's element spec has the shapes without consuming anything.
    2. `reduce_per_replica` reduces every logged metric with `axis=0`, which is invalid
       for the scalar loss/metric values ("Invalid reduction dimension 0"). The mean
       over replicas (`axis=None`) is the intended figure.

    Both only change code paths that distributed training takes (a model built under the
    default strategy has no `_distribute_strategy`; the metric reduction is changed for
    multi-worker strategies only).
    """
    global _PATCHED
    if _PATCHED:
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _build_from_input_spec
    _PATCHED = True


def _build_from_input_spec(self, iterator=None, data_batch=None):
    """Keras' `_maybe_symbolic_build`, building from the input's element spec."""
    strategy = self._distribute_strategy
    if strategy is None:
        return
    if data_batch is None and iterator is not None:
        data_batch = iterator.data_adapter.get_tf_dataset().element_spec
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)
