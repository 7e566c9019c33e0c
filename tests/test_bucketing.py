"""trainer.bucket_by_length: batches of similar-length reviews, trimmed to the longest one."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from rnnlab.config.settings import compose_run
from rnnlab.data.arrays import BUCKET_BATCHES, example_outputs, to_dataset, token_lengths
from rnnlab.data.splits import DataSpec
from rnnlab.errors import ConfigError
from rnnlab.models import build_model
from rnnlab.training.experiment import validate_experiment

from .conftest import REPO

MAX_LEN = 40


def padded_reviews(count: int, padding: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Token rows of random lengths 1..MAX_LEN-5 (ids >= 1), padded with 0 on one side."""
    rng = np.random.default_rng(seed)
    x = np.zeros((count, MAX_LEN), dtype=np.int32)
    for row, length in enumerate(rng.integers(1, MAX_LEN - 5, size=count)):
        tokens = rng.integers(1, 50, size=length)
        if padding == "post":
            x[row, :length] = tokens
        else:
            x[row, MAX_LEN - length :] = tokens
    return x, np.arange(count)


def masked_recurrent(cell: str = "lstm"):
    """A small two-layer bidirectional recurrent model with masked padding."""
    keras.utils.set_random_seed(1)
    return OmegaConf.create(
        {"type": "recurrent", "cell": cell, "embedding_dim": 8, "units": [6, 6],
         "bidirectional": True, "mask_padding": True, "dropout": 0.0, "recurrent_dropout": 0.0,
         "dense_units": 4, "pooling": "avg_max", "embedding_dropout": 0.0, "head_dropout": 0.0}
    )  # fmt: skip


def epochs_of(x, y, batch_size: int, shuffle: bool, padding: str, repeats: int = 1):
    data = to_dataset(x, y, batch_size, shuffle, seed=5, bucket_padding=padding).repeat(repeats)
    return [(xb.numpy(), yb.numpy()) for xb, yb in data]


@pytest.mark.parametrize("padding", ["post", "pre"])
def test_bucketed_batches_hold_every_review_once_trimmed_to_the_longest(padding: str) -> None:
    x, y = padded_reviews(300, padding)
    batches = epochs_of(x, y, 8, True, padding, repeats=2)
    per_epoch = -(-300 // 8)
    # Known to Keras up front, as unbucketed batches are: no first epoch that runs dry.
    assert to_dataset(x, y, 8, True, 5, padding).cardinality() == per_epoch
    assert len(batches) == 2 * per_epoch
    for epoch in (batches[:per_epoch], batches[per_epoch:]):
        assert sorted(np.concatenate([yb for _, yb in epoch]).tolist()) == list(range(300))
    for xb, yb in batches:
        lengths = token_lengths(x[yb])
        assert xb.shape[1] == lengths.max()  # trimmed to the longest review of the batch
        kept = slice(None, xb.shape[1]) if padding == "post" else slice(MAX_LEN - xb.shape[1], None)
        np.testing.assert_array_equal(xb, x[yb][:, kept])  # rows stay paired, no token lost


def test_bucketed_batches_group_similar_lengths_and_stay_seeded() -> None:
    x, y = padded_reviews(400, "post")
    batches = epochs_of(x, y, 8, True, "post", repeats=2)
    spreads = [np.ptp(token_lengths(x[yb])) for _, yb in batches]
    random_spreads = [np.ptp(token_lengths(x[yb])) for _, yb in epochs_of(x, y, 8, True, None)]
    assert np.mean(spreads) < np.mean(random_spreads) / 4
    # A run of BUCKET_BATCHES batches is sorted, then the batches are shuffled again.
    widths = [xb.shape[1] for xb, _ in batches[: BUCKET_BATCHES // 2]]
    assert widths != sorted(widths)
    first, second = batches[:50], batches[50:]
    assert [yb.tolist() for _, yb in first] != [yb.tolist() for _, yb in second]
    again = epochs_of(x, y, 8, True, "post", repeats=2)
    assert [yb.tolist() for _, yb in again] == [yb.tolist() for _, yb in batches]


def test_validation_batches_are_sorted_not_shuffled() -> None:
    x, y = padded_reviews(50, "post")
    batches = epochs_of(x, y, 8, False, "post")
    order = np.concatenate([yb for _, yb in batches])
    np.testing.assert_array_equal(order, np.argsort(token_lengths(x), kind="stable"))


@pytest.mark.parametrize("padding", ["post", "pre"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_a_masked_model_scores_a_trimmed_batch_as_the_padded_one(padding: str, cell: str) -> None:
    model = build_model(
        masked_recurrent(cell), DataSpec(task="imdb", vocab_size=50, seq_len=MAX_LEN)
    )
    x, y = padded_reviews(64, padding, seed=2)
    padded = model.predict(x, verbose=0).ravel()
    for xb, yb in epochs_of(x, y, 16, True, padding):
        assert xb.shape[1] < MAX_LEN
        np.testing.assert_allclose(model.predict(xb, verbose=0).ravel(), padded[yb], atol=1e-5)


def masked_region_cnn():
    keras.utils.set_random_seed(1)
    return OmegaConf.create(
        {"type": "region_cnn", "region": 3, "filters": 6, "mask_padding": True,
         "dense_units": 4, "dropout": 0.0}
    )  # fmt: skip


@pytest.mark.parametrize("padding", ["post", "pre"])
def test_a_region_cnn_scores_a_trimmed_batch_as_the_padded_one(padding: str) -> None:
    model = build_model(masked_region_cnn(), DataSpec(task="imdb", vocab_size=50, seq_len=MAX_LEN))
    x, y = padded_reviews(64, padding, seed=3)
    padded = model.predict(x, verbose=0).ravel()
    assert len(np.unique(padded.round(6))) > 32  # distinct scores, so rows are matched
    for xb, yb in epochs_of(x, y, 16, True, padding):
        assert xb.shape[1] < MAX_LEN
        np.testing.assert_allclose(model.predict(xb, verbose=0).ravel(), padded[yb], atol=1e-5)


def test_example_outputs_of_bucketed_batches_come_in_the_reviews_order(monkeypatch) -> None:
    from rnnlab.data import arrays as datasets

    monkeypatch.setattr(datasets, "PREDICT_BATCH", 8)
    monkeypatch.setattr(datasets, "BUCKET_BATCHES", 3)  # several sorted runs, not one
    model = build_model(masked_recurrent(), DataSpec(task="imdb", vocab_size=50, seq_len=MAX_LEN))
    x, _ = padded_reviews(100, "post", seed=4)
    padded = example_outputs(model, x, None)
    bucketed = example_outputs(model, x, "post")
    np.testing.assert_allclose(bucketed, padded, atol=1e-5)
    assert len(np.unique(padded.round(6))) > 50  # distinct scores, so the order is checked


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["experiment=imdb_pool"],
            r"trainer.bucket_by_length=true needs a masked model of type equation_rnn or "
            r"recurrent or region_cnn \(model.mask_padding=true\), but model.type='pool'",
        ),
        (
            ["experiment=imdb_lstm", "model.mask_padding=false"],
            r"but model.type='recurrent', mask_padding=False; set "
            r"trainer.bucket_by_length=false or mask the padding",
        ),
    ],
)
def test_bucketing_an_unmasked_or_fixed_length_model_is_a_clear_error(
    overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_experiment(compose_run([*overrides, "trainer.bucket_by_length=true"], REPO))
