"""Bad configuration fails at start with one message naming the key, the value and what is allowed."""

import pytest

from rnnlab.config.settings import compose_run
from rnnlab.errors import ConfigError
from rnnlab.training.experiment import validate_experiment

from .conftest import REPO

BAD = [
    (
        ["experiment=nope"],
        r"Could not find 'experiment/nope'\s+Available options in 'experiment': imdb_bilstm",
    ),
    (["dataset=nope"], r"Could not find 'dataset/nope'"),
    (["model=nope"], r"Could not find 'model/nope'"),
    (
        ["+trainer.typo=1"],
        r"trainer.typo is not a known setting of trainer; allowed: optimizer, learning_rate",
    ),
    (["+model.unitz=3"], r"model.unitz is not a known setting of model; allowed: type, cell"),
    (["trainer.batch_size=abc"], r"trainer.batch_size='abc' has the wrong type"),
    (["trainer.learning_rate=fast"], r"trainer.learning_rate='fast' has the wrong type"),
    (["trainer.batch_size=0"], r"trainer.batch_size=0 is invalid; allowed: a positive integer"),
    (["trainer.threads=-1"], r"trainer.threads=-1 is invalid; allowed: 0 \(one per core\)"),
    (
        ["experiment=imdb_gru", "dataset=imdb_v30k_len500"],
        r"model.pretrained_embedding=true but dataset 'imdb_v30000_len500_postpost_val0.2_"
        r"blocks500' has no word vectors \(dataset.word_vectors=0\); pick a dataset that .* "
        r"or set model.pretrained_embedding=false and a model.embedding_dim > 0",
    ),
    (
        [
            "experiment=imdb_gru",
            "dataset=imdb_v30k_len500_w2v",
            "model.embedding_dim=16",
            "model.pretrained_embedding=true",
        ],
        r"model.embedding_dim=16 but the dataset's word vectors have 100 dimensions "
        r"\(dataset.word_vectors\); set model.embedding_dim=100",
    ),
    (
        ["experiment=imdb_gru", "trainer.schedule_epochs=0"],
        r"trainer.schedule_epochs=0 is invalid; allowed: a positive integer or null",
    ),
    (["trainer.epochs=-1"], r"trainer.epochs=-1 is invalid; allowed: a positive integer"),
    (
        ["experiment=imdb_gru", "dataset.word_vector_epochs=0"],
        r"dataset.word_vector_epochs=0 is invalid; allowed: a positive integer \(skip-gram passes\)",
    ),
    (
        ["trainer.learning_rate=0"],
        r"trainer.learning_rate=0.0 is invalid; allowed: a positive number",
    ),
    (
        ["trainer.optimizer=adamw"],
        r"trainer.optimizer='adamw' is invalid; allowed: adam, rmsprop, adagrad or sgd",
    ),
    (
        ["trainer.lr_schedule=step"],
        r"trainer.lr_schedule='step' is invalid; allowed: constant or cosine",
    ),
    (
        ["trainer.strategy=horovod"],
        r"trainer.strategy='horovod' is invalid; allowed: default, mirrored, multi_worker",
    ),
    (
        ["experiment=shakespeare_char_gru", "trainer.refit=true"],
        r"trainer.refit=true would train on the validation text that Shakespeare's evaluation "
        r"scores \(it has no test split\); set trainer.refit=false",
    ),
    (
        ["experiment=seed002_sine", "trainer.refit=true"],
        r"trainer.refit=true needs a validation split to choose the epoch count, but "
        r"dataset.val_fraction=0.0; set a fraction or refit=false",
    ),
    (
        ["dataset.val_block_size=-1"],
        r"dataset.val_block_size=-1 is invalid; allowed: an integer >= 0",
    ),
    (["trainer.early_stopping.patience=-2"], r"patience=-2 is invalid; allowed: an integer >= 0"),
    (["dataset.max_len=0"], r"dataset.max_len=0 is invalid; allowed: a positive integer"),
    (
        ["trainer.adversarial_epsilon=-1"],
        r"trainer.adversarial_epsilon=-1.0 is invalid; allowed: a number >= 0 "
        r"\(0 = no adversarial training\)",
    ),
    (
        ["experiment=imdb_lstm", "dataset.read_len=400"],
        r"dataset.read_len=400 is below dataset.max_len=500: held-out reviews are never cut "
        r"shorter than training ones; set dataset.read_len to at least 500",
    ),
    (
        ["experiment=imdb_pool", "dataset.read_len=1200"],
        r"dataset.read_len=1200 reads held-out reviews past the max_len=800 tokens a model "
        r"trains on, which needs a masked model of type equation_rnn or recurrent or "
        r"region_cnn \(model.mask_padding=true\), but model.type='pool', mask_padding=True; set "
        r"dataset.read_len=800 or pick such a "
        r"model",
    ),
    (["dataset.vocab_size=2"], r"dataset.vocab_size=2 is invalid; allowed: an integer > 2"),
    (["dataset.padding=middle"], r"dataset.padding='middle' is invalid; allowed: pre or post"),
    (
        ["dataset.val_fraction=1.5"],
        r"dataset.val_fraction=1.5 is invalid; allowed: a number strictly between 0 and 1",
    ),
    (
        ["model.units=[32,0]"],
        r"model.units=\[32, 0\] is invalid; allowed: a non-empty list of positive integers",
    ),
    (
        ["model.cell=transformer"],
        r"model.cell='transformer' is invalid; allowed: simple_rnn, lstm or gru",
    ),
    (["model.dropout=1.0"], r"model.dropout=1.0 is invalid; allowed: a number in \[0, 1\)"),
    (
        ["trainer.ema=1.0"],
        r"trainer.ema=1.0 is invalid; allowed: a number in \[0, 1\) \(0 = no weight averaging\)",
    ),
    (
        ["experiment=imdb_pool", "model.word_dropout=1.0"],
        r"model.word_dropout=1.0 is invalid; allowed: a number in \[0, 1\)",
    ),
    (
        ["experiment=imdb_naive_bayes", "model.solver=sgd"],
        r"model.solver='sgd' is invalid; allowed: trainer \(the trainer's optimizer learns",
    ),
    (
        ["experiment=imdb_naive_bayes", "model.C=0"],
        r"model.C=0.0 is invalid; allowed: a number > 0 \(liblinear's inverse L2 strength\)",
    ),
    (
        ["experiment=imdb_naive_bayes", "model.beta=0"],
        r"model.beta=0.0 is invalid; allowed: a number in \(0, 1\] \(1: the solved weights",
    ),
    (
        ["experiment=imdb_naive_bayes", "model.alpha=0"],
        r"model.alpha=0.0 is invalid; allowed: a number > 0 \(naive-Bayes smoothing",
    ),
    (["model.type=mlp"], r"model.type='mlp' is unknown; allowed: char_rnn, equation_rnn"),
    (
        ["dataset=shakespeare"],
        r"model.type='recurrent' is a binary_text model but the task is a char_lm task; "
        r"use model.type in: char_rnn \(dataset.task='shakespeare'\)",
    ),
    (
        ["experiment=sine_lstm", "model=pool"],
        r"model.units is not a known setting of model; allowed: type, embedding_dim",
    ),
    (
        ["experiment=sine_lstm", "model=pool", "~model.units", "~model.input_layout"],
        r"model.type='pool' is a binary_text model but the task is a series task; "
        r"use model.type in: sine_lstm",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_configuration_is_one_clear_error(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_experiment(compose_run(["experiment=imdb_lstm", *overrides], REPO))


def test_every_shipped_experiment_passes_the_schema() -> None:
    for path in (REPO / "conf" / "experiment").glob("*.yaml"):
        validate_experiment(compose_run([f"experiment={path.stem}"], REPO))


def test_cli_reports_bad_config_before_work(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "rnnlab"),
            "train",
            "trainer.batch_size=0",
            f"paths.models={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "trainer.batch_size=0 is invalid; allowed: a positive integer"
    )
    assert not any(tmp_path.iterdir())
