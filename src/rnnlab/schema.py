"""Typed schema of a run's configuration, checked before any work starts.

Dataclasses merged with OmegaConf catch unknown keys and wrong types; `RULES` catch values
out of range. Every error names the key, the bad value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import II, MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from rnnlab.errors import ConfigError

# trainer.strategy values (rnnlab.distribute builds them).
STRATEGIES = ("default", "mirrored", "multi_worker")


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
    refit: bool = False
    # The refit's epochs when chosen on validation beforehand (None: choose them in this run).
    refit_epochs: int | None = None
    # Epochs the learning-rate schedule spans (None: `epochs`). The refit sets it to the
    # selection run's epochs, so it stops early on the schedule validation judged.
    schedule_epochs: int | None = None
    # Batches of reviews of similar length, trimmed to the longest (masked token models only).
    bucket_by_length: bool = False


@dataclass
class Evaluation:
    # None scores the whole held-out split; the quick profile caps it (evenly spaced examples).
    max_examples: int | None = None


@dataclass
class ImdbDataset:
    task: str = "imdb"
    source: str = "imdb"
    vocab_size: int = MISSING
    max_len: int = MISSING
    padding: str = "post"
    truncating: str = "post"
    val_fraction: float = 0.2
    split_seed: int = 42
    val_block_size: int = 0
    # > 0: `prepare` also learns word vectors of this size from the training split's text
    # (rnnlab.data.word_vectors), which model.pretrained_embedding starts from.
    word_vectors: int = 0
    name: str = MISSING


@dataclass
class ShakespeareDataset:
    task: str = "shakespeare"
    source: str = "shakespeare"
    seq_len: int = 100
    val_fraction: float = 0.1
    val_seq_len: int = II(".seq_len")  # validation (scored) blocks; same as training by default
    name: str = MISSING


@dataclass
class SineDataset:
    task: str = "sine"
    train_examples: int = 10000
    test_examples: int = 1000
    steps: int = 10
    gap: float = 0.01
    val_fraction: float = 0.1
    name: str = MISSING


@dataclass
class PoolModel:
    type: str = "pool"
    embedding_dim: int = 16
    mask_padding: bool = False
    dense_units: int = 64
    dropout: float = 0.0
    ngrams: int = 1
    ngram_buckets: int = 0
    pretrained_embedding: bool = False
    word_dropout: float = 0.0
    distinct_tokens: bool = False


@dataclass
class NaiveBayesModel:
    type: str = "naive_bayes"
    ngrams: int = 3
    ngram_buckets: int = 1048576
    w_adj: float = 0.4
    r_adj: float = 10.0


@dataclass
class RecurrentModel:
    type: str = "recurrent"
    cell: str = "simple_rnn"
    embedding_dim: int = 32
    units: list[int] = field(default_factory=lambda: [32])
    bidirectional: bool = False
    mask_padding: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    dense_units: int = 0
    pooling: str = "last"
    embedding_dropout: float = 0.0
    head_dropout: float = 0.0
    # true: the embedding starts from the dataset's word vectors (dataset.word_vectors).
    pretrained_embedding: bool = False


@dataclass
class LoopedCellsModel:
    type: str = "looped_cells"
    embedding_dim: int = 100
    units: int = 64
    dropout: float = 0.5


@dataclass
class EquationRNNModel:
    type: str = "equation_rnn"
    embedding_dim: int = 32
    units: int = 32
    activation: str = "tanh"
    mask_padding: bool = False


@dataclass
class CharRNNModel:
    type: str = "char_rnn"
    cell: str = "gru"
    embedding_dim: int = 256
    units: int = 512
    layers: int = 1
    dropout: float = 0.0


@dataclass
class SineLSTMModel:
    type: str = "sine_lstm"
    units: list[int] = field(default_factory=lambda: [30, 30])
    input_layout: str = "steps"


DATASETS = {"imdb": ImdbDataset, "shakespeare": ShakespeareDataset, "sine": SineDataset}
MODELS = {
    "pool": PoolModel,
    "naive_bayes": NaiveBayesModel,
    "recurrent": RecurrentModel,
    "looped_cells": LoopedCellsModel,
    "equation_rnn": EquationRNNModel,
    "char_rnn": CharRNNModel,
    "sine_lstm": SineLSTMModel,
}
MODEL_TASK = {
    "pool": "imdb",
    "naive_bayes": "imdb",
    "recurrent": "imdb",
    "looped_cells": "imdb",
    "equation_rnn": "imdb",
    "char_rnn": "shakespeare",
    "sine_lstm": "sine",
}


def positive(v: Any) -> bool:
    return v is None or (not isinstance(v, bool) and v > 0)


def fraction(v: float) -> bool:
    return 0 < v < 1


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
    (
        "trainer.optimizer",
        lambda v: v in ("adam", "rmsprop", "adagrad", "sgd"),
        "adam, rmsprop, adagrad or sgd",
    ),
    (
        "trainer.strategy",
        lambda v: v in STRATEGIES,
        f"{', '.join(STRATEGIES)} (tf.distribute; multi_worker reads TF_CONFIG)",
    ),
    ("trainer.lr_schedule", lambda v: v in ("constant", "cosine"), "constant or cosine"),
    ("trainer.learning_rate", positive, "a positive number"),
    ("trainer.clipnorm", positive, "a positive number or null"),
    ("trainer.batch_size", positive, "a positive integer"),
    ("trainer.epochs", positive, "a positive integer"),
    ("trainer.threads", lambda v: v >= 0, "0 (one per core) or a positive integer"),
    ("dataset.word_vectors", lambda v: v >= 0, "an integer >= 0 (0 = no word vectors)"),
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
    ("model.head_dropout", between_0_and_1, "a number in [0, 1)"),
    ("model.pooling", lambda v: v in ("last", "avg", "avg_max"), "last, avg or avg_max"),
    ("model.ngrams", lambda v: v in (1, 2, 3), "1, 2 or 3"),
    ("model.r_adj", lambda v: v > 0, "a number > 0"),
    ("model.ngram_buckets", lambda v: v >= 0, "an integer >= 0 (> 0 when ngrams > 1)"),
    ("model.cell", lambda v: v in ("simple_rnn", "lstm", "gru"), "simple_rnn, lstm or gru"),
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


def pick(kind: str, value: str, table: dict[str, type]) -> type:
    if value not in table:
        raise ConfigError(f"{kind}={value!r} is unknown; allowed: {', '.join(sorted(table))}")
    return table[value]


def check_rules(cfg: DictConfig) -> None:
    for key, test, allowed in RULES:
        value = OmegaConf.select(cfg, key, default="__absent__")
        if OmegaConf.is_list(value) or isinstance(value, list):
            bad = [v for v in value if not positive(v)]
            if bad or not value:
                raise ConfigError(
                    f"{key}={value} is invalid; allowed: a non-empty list of positive integers"
                )
        elif value != "__absent__" and not test(value):
            raise ConfigError(f"{key}={value!r} is invalid; allowed: {allowed}")
    fraction_key = "dataset.val_fraction"
    value = OmegaConf.select(cfg, fraction_key)
    task = OmegaConf.select(cfg, "dataset.task")
    ok = (
        between_0_and_1(value) if task == "sine" else fraction(value) if value is not None else True
    )
    if not ok:
        allowed = "a number in [0, 1)" if task == "sine" else "a number strictly between 0 and 1"
        raise ConfigError(f"{fraction_key}={value!r} is invalid; allowed: {allowed}")


def validate_dataset(node: DictConfig) -> DictConfig:
    schema = pick("dataset.task", node.get("task"), DATASETS)
    dataset = typed("dataset", schema, node)
    check_rules(OmegaConf.create({"dataset": dataset}))
    return dataset


def validate_experiment(cfg: DictConfig) -> DictConfig:
    """The typed, checked experiment config (dataset, model, trainer, evaluation)."""
    try:
        dataset = validate_dataset(cfg.dataset)
        model = typed("model", pick("model.type", cfg.model.get("type"), MODELS), cfg.model)
        trainer = typed("trainer", Trainer, cfg.trainer)
        evaluation = typed("evaluation", Evaluation, cfg.get("evaluation") or {})
        checked = OmegaConf.merge(cfg, {"dataset": dataset, "model": model, "trainer": trainer})
        with open_dict(checked):  # an optional section: most configs do not set it
            checked.evaluation = evaluation
    except OmegaConfBaseException as exc:
        raise ConfigError(str(exc)) from exc
    check_model_fits_dataset(model, dataset)
    # Before the rules: experiments size their embedding from dataset.word_vectors, so a
    # dataset without vectors shows up as model.embedding_dim=0, which hides the cause.
    check_pretrained_embedding(checked)
    check_rules(checked)
    if model.get("ngrams", 1) > 1 and not model.ngram_buckets:
        raise ConfigError(
            f"model.ngrams={model.ngrams} needs model.ngram_buckets > 0 (hash buckets for the "
            "n-gram ids, e.g. 200000)"
        )
    check_refit(checked)
    cap_given_refit(checked.trainer)
    check_bucketing(checked)
    return checked


def check_model_fits_dataset(model: DictConfig, dataset: DictConfig) -> None:
    task = MODEL_TASK[model.type]
    if task != dataset.task:
        fitting = ", ".join(k for k, t in MODEL_TASK.items() if t == dataset.task)
        raise ConfigError(
            f"model.type={model.type!r} is a {task} model but dataset.task="
            f"{dataset.task!r}; for {dataset.task} use model.type in: {fitting}"
        )


def check_pretrained_embedding(cfg: DictConfig) -> None:
    if not cfg.model.get("pretrained_embedding"):
        return
    size = cfg.dataset.get("word_vectors", 0)
    if not size:
        raise ConfigError(
            f"model.pretrained_embedding=true but dataset {cfg.dataset.name!r} has no word "
            "vectors (dataset.word_vectors=0); pick a dataset that learns them (e.g. "
            "dataset=imdb_v30k_len500_w2v) or set model.pretrained_embedding=false and a "
            "model.embedding_dim > 0"
        )
    if size != cfg.model.embedding_dim:
        raise ConfigError(
            f"model.embedding_dim={cfg.model.embedding_dim} but the dataset's word vectors "
            f"have {size} dimensions (dataset.word_vectors); set model.embedding_dim={size}"
        )


def cap_given_refit(trainer) -> None:
    """Fewer `trainer.epochs` (an override, the quick profile) cap a refit's given epochs
    too: its schedule spans `epochs`, so it cannot run past them."""
    if trainer.refit_epochs is not None and trainer.refit_epochs > trainer.epochs:
        trainer.refit_epochs = trainer.epochs


def check_refit(cfg: DictConfig) -> None:
    """Refitting on train+val needs a validation split to pick the epochs, and a final score
    that is not read from that split (Shakespeare is scored on its validation tail)."""
    given = cfg.trainer.refit_epochs
    if cfg.trainer.refit and given is not None and given < 1:
        raise ConfigError(
            f"trainer.refit_epochs={given} must be at least 1; pick the best epoch of a "
            "validation run, or set refit_epochs=null to have this run pick it"
        )
    if not cfg.trainer.refit:
        return
    if cfg.dataset.task == "shakespeare":
        raise ConfigError(
            "trainer.refit=true would train on the validation text that Shakespeare's "
            "evaluation scores (it has no test split); set trainer.refit=false"
        )
    if not cfg.dataset.val_fraction:
        raise ConfigError(
            f"trainer.refit=true needs a validation split to choose the epoch count, but "
            f"dataset.val_fraction={cfg.dataset.val_fraction}; set a fraction or refit=false"
        )


# Models that take token sequences of any length and mask their padding.
BUCKETABLE_MODELS = ("recurrent", "equation_rnn")


def check_bucketing(cfg: DictConfig) -> None:
    """Trimming a batch to its longest review leaves every output unchanged only for a model
    that takes any length and ignores padding: a masked recurrent one."""
    if not cfg.trainer.bucket_by_length:
        return
    model = cfg.model
    if model.type not in BUCKETABLE_MODELS or not model.mask_padding:
        raise ConfigError(
            f"trainer.bucket_by_length=true needs a masked model of type "
            f"{' or '.join(BUCKETABLE_MODELS)} (model.mask_padding=true), but model.type="
            f"{model.type!r}, mask_padding={model.get('mask_padding', False)}; set "
            "trainer.bucket_by_length=false or mask the padding"
        )
