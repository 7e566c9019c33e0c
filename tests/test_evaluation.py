"""Evaluation: capped scoring (quick profile), run tags, the positive-review threshold, the
character model's loss per character and the predictions file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from rnnlab.config.settings import compose_run
from rnnlab.data.predictions import read_predictions, write_predictions
from rnnlab.data.splits import DataSpec, Splits
from rnnlab.errors import ConfigError
from rnnlab.pipeline.evaluate import cap_held_out
from rnnlab.tasks import load_prepared as load_splits
from rnnlab.tasks.imdb import POSITIVE_THRESHOLD, predicted_labels
from rnnlab.tasks.shakespeare.evaluate import character_nats
from rnnlab.tracking.runs import eval_data_id
from rnnlab.training.experiment import validate_experiment

from .conftest import REPO


def imdb_splits(test_size: int) -> Splits:
    # Official test order: all positive reviews, then all negative ones.
    y = np.repeat([1, 0], test_size // 2)
    x = np.arange(test_size * 3).reshape(test_size, 3)
    train = (np.zeros((4, 3)), np.zeros(4))
    return Splits(DataSpec("imdb", 10, 3), {"train": train, "val": train, "test": (x, y)})


def test_cap_keeps_evenly_spaced_examples_of_both_labels() -> None:
    splits = imdb_splits(100)
    capped = cap_held_out(splits, 5)
    x, y = capped.arrays["test"]
    np.testing.assert_array_equal(x[:, 0] // 3, [0, 25, 50, 74, 99])
    assert y.tolist() == [1, 1, 0, 0, 0]
    assert capped.arrays["train"] is splits.arrays["train"]
    assert len(splits.arrays["test"][1]) == 100  # the loaded splits are not modified


@pytest.mark.parametrize("cap", [None, 100, 1000])
def test_no_cap_or_a_cap_above_the_split_scores_everything(cap: int | None) -> None:
    splits = imdb_splits(100)
    assert cap_held_out(splits, cap) is splits


def test_shakespeare_caps_its_validation_tail() -> None:
    x = np.arange(40).reshape(10, 4)
    splits = Splits(DataSpec("shakespeare", 5, 4), {"train": (x, x), "val": (x, x)})
    assert cap_held_out(splits, 2).arrays["val"][0].tolist() == [x[0].tolist(), x[9].tolist()]


def test_capped_scores_get_their_own_eval_data_tag() -> None:
    whole = validate_experiment(compose_run(["experiment=imdb_pool"], REPO))
    capped = OmegaConf.merge(whole, {"evaluation": {"max_examples": 2000}})
    assert whole.evaluation.max_examples is None
    assert eval_data_id(whole) == "aclImdb/test"
    assert eval_data_id(capped) == "aclImdb/test/max2000"


def test_shakespeare_scores_on_different_blocks_get_different_eval_data_tags() -> None:
    """Mean loss over blocks of 100 and of 256 characters are different measurements."""
    tuned = validate_experiment(compose_run(["experiment=shakespeare_char_gru"], REPO))
    seed = validate_experiment(compose_run(["experiment=seed004_char_simplernn"], REPO))
    assert (tuned.dataset.seq_len, tuned.dataset.val_seq_len) == (100, 256)
    assert eval_data_id(tuned) == "shakespeare/tail0.1/blocks256"
    assert eval_data_id(seed) == f"shakespeare/tail0.1/blocks{seed.dataset.seq_len}"


def test_non_positive_cap_is_rejected_with_the_allowed_values() -> None:
    cfg = compose_run(["experiment=imdb_pool", "+evaluation.max_examples=0"], REPO)
    with pytest.raises(ConfigError, match=r"evaluation.max_examples=0 is invalid; allowed: a pos"):
        validate_experiment(cfg)


@pytest.mark.parametrize(
    ("experiment", "scored"), [("imdb_pool", "test"), ("shakespeare_char_gru", "val")]
)
def test_evaluation_loads_only_the_split_it_scores(
    tiny_root: Path, experiment: str, scored: str
) -> None:
    dataset = compose_run([f"experiment={experiment}"], REPO).dataset.name
    folder = tiny_root / "data" / "prepared" / dataset
    whole, scored_only = load_splits(folder), load_splits(folder, held_out_only=True)
    assert list(scored_only.arrays) == [scored]
    np.testing.assert_array_equal(scored_only.arrays[scored][0], whole.arrays[scored][0])
    assert scored_only.spec == whole.spec and scored_only.vocabulary == whole.vocabulary


def test_a_review_at_the_threshold_is_called_positive_by_every_reader() -> None:
    prob = np.array([0.0, POSITIVE_THRESHOLD - 1e-9, POSITIVE_THRESHOLD, 0.9])
    assert predicted_labels(prob).tolist() == [0, 0, 1, 1]
    assert predicted_labels(prob).dtype.kind == "i"  # counts in sklearn's confusion matrix


def test_character_nats_are_the_models_loss_per_character() -> None:
    import keras

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 7, (5, 11)), rng.integers(0, 7, (5, 11))
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(7, 4),
            keras.layers.GRU(6, return_sequences=True),
            keras.layers.Dense(7, name="logits"),
        ]
    )
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    nats = character_nats(model, x, y)
    assert nats.shape == (55,) and nats.dtype == np.float64 and (nats > 0).all()
    loss = model.evaluate(x, y, batch_size=2, verbose=0)
    assert nats.mean() == pytest.approx(loss, rel=1e-6)
    # Row by row in text order: block 1's characters follow block 0's.
    second_block = character_nats(model, x[1:2], y[1:2])
    np.testing.assert_allclose(nats[11:22], second_block, rtol=1e-6)


def test_predictions_file_gives_back_exactly_the_scored_outputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"target": rng.integers(0, 2, 50), "output": rng.random(50) / 3}).assign(
        single=lambda f: f["output"].astype(np.float32)
    )
    path = tmp_path / "predictions" / "exp.csv"
    write_predictions(frame, path)
    back = read_predictions(path)
    assert path.read_text().startswith("example,target,output,single\n0,")
    np.testing.assert_array_equal(back["output"], frame["output"])
    np.testing.assert_array_equal(back["single"].astype(np.float32), frame["single"])
    np.testing.assert_array_equal(back.index, np.arange(50))
