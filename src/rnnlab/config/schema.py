"""The task- and model-independent part of a run's schema, checked before any work starts.

Dataclasses merged with OmegaConf catch unknown keys and wrong types; `RULES` catch values
out of range. Every error names the key, the bad value and what is allowed. Each task
brings its dataset schema and each model kind its model schema (rnnlab.training.experiment
puts them together).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from rnnlab.errors import ConfigError

# trainer.strategy values (rnnlab.training.strategy builds them).
STRATEGIES = ("default", "mirrored", "multi_worker")
# trainer.optimizer values and the keras.optimizers class each names.
OPTIMIZERS = {"adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad", "sgd": "SGD"}
LR_SCHEDULES = ("constant", "cosine")


@dataclass
class EarlyStopping:
    monitor: str = "val_loss"
    patience: int = 2
    restore_best_weights: bool = True


@dataclass
class Trainer:
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    clipnorm: float | None = None
    weight_decay: float = 0.0
    ema: float = 0.0
    batch_size: int = 128
    epochs: int = 10
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    seed: int = 42
    strategy: str = "default"
    threads: int = 1  # TensorFlow intra-op threads (0: one per core)
    # true: the select stage's validation run chooses the epochs, then a fresh model trains
    # on train+val for that many (rnnlab.training.selection).
    refit: bool = False
    # Epochs the learning-rate schedule spans (None: `epochs`). The refit sets it to the
    # selection run's epochs, so it stops early on the schedule validation judged.
    schedule_epochs: int | None = None
    # Batches of reviews of similar length, trimmed to the longest (masked token models only).
    bucket_by_length: bool = False
    # > 0: adversarial training (rnnlab.training.adversarial), each review's embedded sequence
    # shifted by this L2 norm towards a higher loss (its cost: conf/trainer/default.yaml).
    adversarial_epsilon: float = 0.0


@dataclass
class Evaluation:
    # None scores the whole held-out split; the quick profile caps it (evenly spaced examples).
    max_examples: int | None = None


def one_of(values) -> str:
    """Allowed values as prose: "a, b or c"."""
    names = list(values)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def positive(v: Any) -> bool:
    return v is None or (not isinstance(v, bool) and v > 0)


def between_0_and_1(v: float) -> bool:
    return 0 <= v < 1


# (key, test, what is allowed); keys absent from a config are skipped.
RULES: list[tuple[str, Any, str]] = [
    ("dataset.vocab_size", lambda v: v > 2, "an integer > 2 (0 and 1 are reserved)"),
    ("dataset.max_len", positive, "a positive integer"),
    ("dataset.seq_len", positive, "a positive integer"),
    ("dataset.val_seq_len", positive, "a positive integer"),
    ("dataset.steps", positive, "a positive integer"),
    ("dataset.train_examples", positive, "a positive integer"),
    ("dataset.test_examples", positive, "a positive integer"),
    ("dataset.gap", positive, "a positive number"),
    (
        "dataset.val_block_size",
        lambda v: v >= 0,
        "an integer >= 0 (0 = random validation reviews, N = blocks of N consecutive ids)",
    ),
    ("dataset.padding", lambda v: v in ("pre", "post"), "pre or post"),
    ("dataset.truncating", lambda v: v in ("pre", "post"), "pre or post"),
    ("trainer.optimizer", lambda v: v in OPTIMIZERS, one_of(OPTIMIZERS)),
    (
        "trainer.strategy",
        lambda v: v in STRATEGIES,
        f"{', '.join(STRATEGIES)} (tf.distribute; multi_worker reads TF_CONFIG)",
    ),
    ("trainer.lr_schedule", lambda v: v in LR_SCHEDULES, one_of(LR_SCHEDULES)),
    ("trainer.learning_rate", positive, "a positive number"),
    ("trainer.clipnorm", positive, "a positive number or null"),
    ("trainer.batch_size", positive, "a positive integer"),
    ("trainer.epochs", positive, "a positive integer"),
    ("trainer.threads", lambda v: v >= 0, "0 (one per core) or a positive integer"),
    ("dataset.word_vectors", lambda v: v >= 0, "an integer >= 0 (0 = no word vectors)"),
    ("dataset.word_vector_epochs", positive, "a positive integer (skip-gram passes)"),
    ("trainer.schedule_epochs", positive, "a positive integer or null (null = trainer.epochs)"),
    ("trainer.steps_per_epoch", positive, "a positive integer or null"),
    ("trainer.validation_steps", positive, "a positive integer or null"),
    (
        "evaluation.max_examples",
        positive,
        "a positive integer or null (null = the whole held-out split)",
    ),
    (
        "trainer.early_stopping.patience",
        lambda v: v >= 0,
        "an integer >= 0 (0 disables early stopping)",
    ),
    ("model.embedding_dim", positive, "a positive integer"),
    ("model.units", positive, "a positive integer (a list of them for stacked layers)"),
    ("model.dense_units", lambda v: v >= 0, "an integer >= 0"),
    ("model.layers", positive, "a positive integer"),
    ("model.dropout", between_0_and_1, "a number in [0, 1)"),
    ("model.recurrent_dropout", between_0_and_1, "a number in [0, 1)"),
    ("model.embedding_dropout", between_0_and_1, "a number in [0, 1)"),
    ("model.word_dropout", between_0_and_1, "a number in [0, 1)"),
    ("trainer.weight_decay", lambda v: v >= 0, "a number >= 0 (0 = no weight decay)"),
    ("trainer.ema", between_0_and_1, "a number in [0, 1) (0 = no weight averaging)"),
    (
        "trainer.adversarial_epsilon",
        lambda v: v >= 0,
        "a number >= 0 (0 = no adversarial training)",
    ),
    ("model.head_dropout", between_0_and_1, "a number in [0, 1)"),
    ("model.pooling", lambda v: v in ("last", "avg", "avg_max"), "last, avg or avg_max"),
    ("model.ngrams", lambda v: v in (1, 2, 3), "1, 2 or 3"),
    ("model.r_adj", lambda v: v > 0, "a number > 0"),
    (
        "model.solver",
        lambda v: v in ("trainer", "liblinear"),
        "trainer (the trainer's optimizer learns the weights) or liblinear (solved exactly)",
    ),
    ("model.C", lambda v: v > 0, "a number > 0 (liblinear's inverse L2 strength)"),
    ("model.alpha", lambda v: v > 0, "a number > 0 (naive-Bayes smoothing of the counts)"),
    ("model.beta", lambda v: 0 < v <= 1, "a number in (0, 1] (1: the solved weights as they are)"),
    ("model.ngram_buckets", lambda v: v >= 0, "an integer >= 0 (> 0 when ngrams > 1)"),
    ("model.input_layout", lambda v: v in ("steps", "book"), "steps or book"),
    (
        "model.activation",
        lambda v: v in ("tanh", "relu", "sigmoid", "linear"),
        "tanh, relu, sigmoid or linear",
    ),
]


def typed(section: str, schema: type, node: DictConfig) -> DictConfig:
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), node)
    except ConfigKeyError as exc:
        allowed = ", ".join(schema.__dataclass_fields__)
        raise ConfigError(
            f"{section}.{exc.key} is not a known setting of {section}; allowed: {allowed}"
        ) from exc
    except ValidationError as exc:
        raise ConfigError(
            f"{section}.{exc.full_key}={exc.value!r} has the wrong type: {exc.msg}"
        ) from exc


def check_rules(cfg: DictConfig, rules: list[tuple[str, Any, str]] = RULES) -> None:
    for key, test, allowed in rules:
        value = OmegaConf.select(cfg, key, default="__absent__")
        if OmegaConf.is_list(value) or isinstance(value, list):
            bad = [v for v in value if not positive(v)]
            if bad or not value:
                raise ConfigError(
                    f"{key}={value} is invalid; allowed: a non-empty list of positive integers"
                )
        elif value != "__absent__" and not test(value):
            raise ConfigError(f"{key}={value!r} is invalid; allowed: {allowed}")
