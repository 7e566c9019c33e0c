"""The checked configuration of one experiment: the task's dataset schema, the model kind's
schema and the trainer's, put together and checked against each other before any work.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from rnnlab.config.schema import Evaluation, Trainer, check_rules, one_of, typed
from rnnlab.errors import ConfigError
from rnnlab.models.parts import RECURRENT
from rnnlab.models.registry import kind_names, model_kind
from rnnlab.tasks import get_task

# Checks whose allowed values come from the model registry.
MODEL_RULES = [
    ("model.cell", lambda v: v in RECURRENT, one_of(RECURRENT)),
]


def validate_dataset(node: DictConfig) -> DictConfig:
    task = get_task(str(node.get("task")))
    dataset = typed("dataset", task.dataset_schema, node)
    unset = sorted(OmegaConf.missing_keys(dataset))
    if unset:
        raise ConfigError(
            f"dataset {node.get('name')!r} sets no value for {', '.join(unset)}; a dataset "
            f"variant starts from the task's settings (`defaults: [{task.name}]` in "
            f"conf/dataset/) or sets every one of them"
        )
    check_rules(OmegaConf.create({"dataset": dataset}))
    task.check_dataset(dataset)
    return dataset


def validate_experiment(cfg: DictConfig) -> DictConfig:
    """The typed, checked experiment config (dataset, model, trainer, evaluation)."""
    try:
        dataset = validate_dataset(cfg.dataset)
        kind = model_kind(str(cfg.model.get("type")))
        model = typed("model", kind.schema, cfg.model)
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
    check_rules(checked, MODEL_RULES)
    if model.get("ngrams", 1) > 1 and not model.ngram_buckets:
        raise ConfigError(
            f"model.ngrams={model.ngrams} needs model.ngram_buckets > 0 (hash buckets for the "
            "n-gram ids, e.g. 200000)"
        )
    check_refit(checked)
    check_bucketing(checked)
    check_read_len(checked)
    return checked


def check_model_fits_dataset(model: DictConfig, dataset: DictConfig) -> None:
    try:
        model_kind(model.type, get_task(dataset.task).problem)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (dataset.task={dataset.task!r})") from exc


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


def check_refit(cfg: DictConfig) -> None:
    """Refitting on train+val needs a validation split to pick the epochs, and a final score
    that is not read from that split (the task says when it is: Shakespeare is scored on
    its validation tail)."""
    if not cfg.trainer.refit:
        return
    forbidden = get_task(cfg.dataset.task).refit_forbidden
    if forbidden:
        raise ConfigError(forbidden)
    if not cfg.dataset.val_fraction:
        raise ConfigError(
            f"trainer.refit=true needs a validation split to choose the epoch count, but "
            f"dataset.val_fraction={cfg.dataset.val_fraction}; set a fraction or refit=false"
        )


def check_bucketing(cfg: DictConfig) -> None:
    """Trimming a batch to its longest review leaves every output unchanged only for a model
    that takes any length and ignores padding: a masked recurrent one."""
    if cfg.trainer.bucket_by_length:
        require_masked_any_length(
            cfg.model,
            "trainer.bucket_by_length=true needs",
            "set trainer.bucket_by_length=false or mask the padding",
        )


def check_read_len(cfg: DictConfig) -> None:
    """Held-out rows longer than the training ones (dataset.read_len > max_len) fit only a
    model that takes any length and ignores padding: a masked recurrent one."""
    dataset = cfg.dataset
    if dataset.get("read_len", 0) > dataset.get("max_len", 0):
        require_masked_any_length(
            cfg.model,
            f"dataset.read_len={dataset.read_len} reads held-out reviews past the "
            f"max_len={dataset.max_len} tokens a model trains on, which needs",
            f"set dataset.read_len={dataset.max_len} or pick such a model",
        )


def require_masked_any_length(model: DictConfig, need: str, fix: str) -> None:
    """A model kind that takes any length (`bucketable`) with model.mask_padding set."""
    if model_kind(model.type).bucketable and model.get("mask_padding"):
        return
    kinds = [name for name in kind_names() if model_kind(name).bucketable]
    raise ConfigError(
        f"{need} a masked model of type {' or '.join(kinds)} (model.mask_padding=true), but "
        f"model.type={model.type!r}, mask_padding={model.get('mask_padding', False)}; {fix}"
    )
