import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf

from rnnlab.data.splits import DataSpec
from rnnlab.errors import ConfigError, DataError
from rnnlab.models import build_model
from rnnlab.models.kinds.equation_rnn import EquationRNNCell
from rnnlab.models.kinds.region_cnn import RegionCNNModel, RegionConvolution

SEED_002_W = np.array([[0.1, 0.2], [0.3, 0.4]])
SEED_002_U = np.array([[0.5, 0.6]])
SEED_002_B = np.array([0.1, -0.1])
SEED_002_V = np.array([[1.0], [2.0]])
SEED_002_C = np.array([0.1])


def seed_002_model(cell: keras.layers.Layer) -> keras.Model:
    inputs = keras.Input(shape=(2, 1), dtype="float64")
    states = keras.layers.RNN(cell, return_sequences=True, dtype="float64")(inputs)
    outputs = keras.layers.Dense(1, dtype="float64")(states)
    model = keras.Model(inputs, outputs)
    model.layers[1].set_weights([SEED_002_U, SEED_002_W, SEED_002_B])
    model.layers[2].set_weights([SEED_002_V, SEED_002_C])
    return model


def test_equation_cell_reproduces_seed_002_worked_example() -> None:
    model = seed_002_model(EquationRNNCell(2, dtype="float64"))
    outputs = model.predict(np.array([[[1.0], [2.0]]]), verbose=0).ravel()
    np.testing.assert_allclose(outputs, [1.56128388, 2.72707101], atol=5e-9)


def test_equation_cell_matches_keras_simple_rnn() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    ours = keras.layers.RNN(EquationRNNCell(5), return_sequences=True)
    theirs = keras.layers.SimpleRNN(5, return_sequences=True)
    ours.build(x.shape)
    theirs.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-6)


def test_classifier_on_character_data_is_refused() -> None:
    model_cfg = OmegaConf.create({"type": "recurrent"})
    with pytest.raises(
        ConfigError,
        match=r"model.type='recurrent' is a binary_text model but the task is a char_lm task; "
        r"use model.type in: char_rnn",
    ):
        build_model(model_cfg, DataSpec(task="shakespeare", problem="char_lm", vocab_size=65))


TINY_KIND = """
from dataclasses import dataclass

import keras

from rnnlab.models.registry import ModelKind


@dataclass
class TinyModel:
    type: str = "tiny"
    units: int = 3


def build_tiny(m, data):
    tokens = keras.Input(shape=(data.seq_len,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(data.vocab_size, m.units)(tokens)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, keras.layers.Dense(1, activation="sigmoid")(x), name="tiny")


KIND = ModelKind(TinyModel, build_tiny, ("binary_text",))
"""


def test_a_new_kind_is_one_module_the_registry_finds_by_name(tmp_path, monkeypatch) -> None:
    from rnnlab.models import kinds, registry

    (tmp_path / "tiny.py").write_text(TINY_KIND, encoding="utf-8")
    monkeypatch.setattr(kinds, "__path__", [*kinds.__path__, str(tmp_path)])
    registry.load_kind.cache_clear()
    try:
        assert "tiny" in registry.kind_names()
        assert "tiny" in registry.kinds_for("binary_text")
        assert "tiny" not in registry.kinds_for("char_lm")
        model = build_model(OmegaConf.create({"type": "tiny", "units": 3}), DataSpec("imdb", 9, 4))
        assert model.name == "tiny" and model.output_shape == (None, 1)
    finally:
        registry.load_kind.cache_clear()
        sys.modules.pop("rnnlab.models.kinds.tiny", None)


LOADED_KINDS = """
import sys
from rnnlab.models import load_model
load_model(sys.argv[1], *sys.argv[2:])
print(" ".join(sorted(m for m in sys.modules if m.startswith("rnnlab.models.kinds."))))
"""


@pytest.mark.parametrize(("kind", "loaded"), [(["pool"], ["pool"]), ([], None)])
def test_loading_a_model_of_a_named_kind_imports_that_kind_only(tmp_path, kind, loaded) -> None:
    """evaluate@ names its kind, so it runs only the kind module its dvc.yaml deps list."""
    from rnnlab.models.registry import kind_names

    tokens = keras.Input(shape=(4,), dtype="int32")
    keras.Model(tokens, keras.layers.Embedding(9, 2)(tokens)).save(tmp_path / "m.keras")
    script = [sys.executable, "-c", LOADED_KINDS, str(tmp_path / "m.keras"), *kind]
    out = subprocess.run(script, capture_output=True, text=True, check=True).stdout.split()
    assert out == [f"rnnlab.models.kinds.{name}" for name in loaded or kind_names()]


@pytest.mark.parametrize(
    ("logged", "label"),
    [
        (
            {"type": "recurrent", "cell": "lstm", "units": "[32, 32]", "bidirectional": "True"},
            "bilstm [32, 32]",
        ),
        (
            {"type": "recurrent", "cell": "gru", "units": "[64]", "bidirectional": "False"},
            "gru [64]",
        ),
        ({"type": "char_rnn", "cell": "gru", "units": "256", "layers": "2"}, "char 2x gru 256"),
        ({"type": "char_rnn", "cell": "lstm", "units": "384", "layers": "1"}, "char lstm 384"),
        ({"type": "naive_bayes", "ngrams": "3"}, "naive_bayes 3-grams"),
        ({"type": "pool", "ngrams": "1"}, "pool"),
        ({"type": "region_cnn", "region": "3", "filters": "500"}, "region_cnn 3x500"),
        ({"type": "sine_lstm"}, "sine_lstm"),
        ({"type": "ensemble"}, "ensemble"),
    ],
)
def test_each_kind_labels_its_models_for_the_leaderboard(logged, label) -> None:
    from rnnlab.models.registry import model_label

    assert model_label(logged) == label


def test_unknown_model_type_lists_allowed() -> None:
    with pytest.raises(
        ConfigError,
        match=r"model.type='transformer' is unknown; allowed: char_rnn, equation_rnn, "
        r"looped_cells, naive_bayes, pool, recurrent, region_cnn, sine_lstm$",
    ):
        build_model(OmegaConf.create({"type": "transformer"}), DataSpec(task="imdb"))


def test_hashed_ngrams_skip_padding_and_are_stable() -> None:
    from rnnlab.models.ngrams import HashedNGrams

    layer = HashedNGrams(vocab_size=100, ngrams=3, buckets=50)
    tokens = np.array([[5, 6, 7, 0, 0], [5, 6, 7, 8, 0]], dtype="int32")
    ids = np.asarray(layer(tokens))
    assert ids.shape == (2, 5 + 4 + 3)
    np.testing.assert_array_equal(ids[:, :5], tokens)  # unigrams are the tokens themselves
    bigrams, trigrams = ids[:, 5:9], ids[:, 9:]
    assert (bigrams[0, 2:] == 0).all() and (trigrams[0, 1:] == 0).all()  # touch padding
    assert bigrams[0, 0] == bigrams[1, 0] and trigrams[0, 0] == trigrams[1, 0]  # same n-gram
    assert ((ids[ids >= 100] >= 100) & (ids[ids >= 100] < 150)).all()
    assert bigrams[1, 0] != bigrams[1, 1]


def test_distinct_ids_keep_each_id_once() -> None:
    from rnnlab.models.ngrams import DistinctIds

    ids = np.asarray(DistinctIds()(np.array([[4, 2, 4, 0, 2, 9]], dtype="int32")))
    assert sorted(ids[ids > 0].tolist()) == [2, 4, 9] and (ids == 0).sum() == 3


def test_word_dropout_drops_tokens_only_while_training() -> None:
    from rnnlab.models.kinds.pool import WordDropout

    keras.utils.set_random_seed(0)
    layer = WordDropout(0.5)
    ids = np.tile(np.arange(1, 201, dtype="int32"), (4, 1))
    ids[:, 150:] = 0
    np.testing.assert_array_equal(np.asarray(layer(ids, training=False)), ids)
    dropped = np.asarray(layer(ids, training=True))
    kept = dropped > 0
    assert (dropped[kept] == ids[kept]).all()  # survivors keep their id
    assert 0.35 < kept[:, :150].mean() < 0.65 and not kept[:, 150:].any()
    assert (kept[0] != kept[1]).any()  # drawn per review, not one pattern for the batch


def test_word_dropout_never_empties_a_review() -> None:
    from rnnlab.models.kinds.pool import WordDropout

    ids = np.array([[7, 0, 0]] * 64, dtype="int32")
    dropped = np.asarray(WordDropout(0.9, seed=1)(ids, training=True))
    np.testing.assert_array_equal(dropped, ids)  # a lone token would leave 0/0 to average


def test_pool_with_word_dropout_masks_the_dropped_tokens() -> None:
    m = pool_config(mask_padding=False, pretrained_embedding=False, word_dropout=0.3)
    model = build_model(m, DataSpec("imdb", vocab_size=20, seq_len=6))
    assert model.get_layer("embedding").mask_zero  # dropped ids must not dilute the average
    x = np.array([[3, 4, 5, 6, 7, 8]] * 32, dtype="int32")
    served = np.asarray(model(x, training=False))
    assert np.allclose(served, served[0])  # inference: every token counts, every time
    trained = np.asarray(model(x, training=True))
    assert not np.allclose(trained, trained[0])  # training: each review loses other tokens
    reloaded = keras.Model.from_config(model.get_config())
    assert reloaded.get_layer("word_dropout").rate == 0.3


def test_pool_with_distinct_tokens_averages_each_word_once() -> None:
    m = pool_config(pretrained_embedding=False, distinct_tokens=True)
    model = build_model(m, DataSpec("imdb", vocab_size=20, seq_len=6))
    repeated = np.array([[3, 3, 3, 3, 5, 0]], dtype="int32")
    once = np.array([[5, 3, 0, 0, 0, 0]], dtype="int32")
    np.testing.assert_allclose(model(repeated), model(once), rtol=1e-6)
    counted = build_model(pool_config(pretrained_embedding=False), DataSpec("imdb", 20, 6))
    counted.set_weights(model.get_weights())  # the same weights, repeats counted
    assert not np.allclose(counted(repeated), counted(once))
    reloaded = keras.Model.from_config(model.get_config())
    assert reloaded.get_layer("distinct") is not None


def naive_bayes_settings(**changes) -> DictConfig:
    """The naive_bayes kind's defaults (its config schema) with `changes`."""
    from rnnlab.models.kinds.naive_bayes import NaiveBayesModel

    return OmegaConf.merge(OmegaConf.structured(NaiveBayesModel), changes)


def test_naive_bayes_ratios_come_from_the_training_labels() -> None:
    from rnnlab.models.registry import adapt_to_training_data

    m = naive_bayes_settings(ngrams=1, ngram_buckets=0)
    model = build_model(m, DataSpec("imdb", vocab_size=10, seq_len=4))
    x = np.array([[2, 3, 0, 0], [2, 3, 3, 0], [4, 0, 0, 0], [4, 5, 0, 0]], dtype="int32")
    y = np.array([1, 1, 0, 0])
    adapt_to_training_data(m, model, x, y)
    ratio = np.asarray(model.get_layer("nb").ratio)
    assert ratio[0] == 0.0 and ratio[2] > 0 and ratio[3] > 0 and ratio[4] < 0 and ratio[5] < 0
    assert ratio[3] == pytest.approx(ratio[2])  # presence, not counts: 3 twice in one review
    # Unseen ids get smoothing alone: log of the ratio of the class totals (padding excluded).
    positive_total, negative_total = 9 * 1.0 + 4, 9 * 1.0 + 3
    assert ratio[7] == pytest.approx(np.log(negative_total / positive_total))
    prob = model.predict(x, verbose=0).ravel()
    assert (prob[:2] > 0.5).all() and (prob[2:] < 0.5).all()


def test_naive_bayes_l2_penalises_the_learned_weights() -> None:
    settings = naive_bayes_settings(ngrams=1, ngram_buckets=0, l2=0.01)
    model = build_model(settings, DataSpec("imdb", vocab_size=10, seq_len=4))
    weight = np.asarray(model.get_layer("nb").weight)
    assert len(model.losses) == 1  # the fixed ratios and the bias are not penalised
    assert float(model.losses[0]) == pytest.approx(0.01 * np.sum(weight**2), rel=1e-5)
    unpenalised = build_model(
        naive_bayes_settings(ngrams=1, ngram_buckets=0), DataSpec("imdb", vocab_size=10, seq_len=4)
    )
    assert not unpenalised.losses


@pytest.mark.parametrize("intercept", [True, False])
def test_naive_bayes_trainer_learns_a_bias_only_with_intercept(intercept: bool) -> None:
    model = build_model(
        naive_bayes_settings(ngrams=1, ngram_buckets=0, intercept=intercept),
        DataSpec("imdb", vocab_size=10, seq_len=4),
    )
    trained = sorted(weight.name for weight in model.trainable_weights)
    assert trained == (["bias", "weight"] if intercept else ["weight"])


@pytest.mark.parametrize("intercept", [True, False])
def test_naive_bayes_liblinear_solver_is_nbsvms_exact_fit_and_frozen(intercept: bool) -> None:
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    from rnnlab.models.registry import adapt_to_training_data

    settings = naive_bayes_settings(
        ngrams=2, ngram_buckets=64, solver="liblinear", C=0.5, intercept=intercept
    )
    model = build_model(settings, DataSpec("imdb", vocab_size=12, seq_len=5))
    rng = np.random.default_rng(0)
    x = rng.integers(2, 12, size=(60, 5)).astype("int32")
    x[:, 3:] *= rng.random((60, 2)) < 0.5  # some padding at the end
    x[:, 4] *= x[:, 3] > 0  # padding only after padding
    y = ((x == 3).any(axis=1) | (x == 5).any(axis=1)).astype("int32")
    adapt_to_training_data(settings, model, x, y)
    assert not model.trainable_weights  # the trainer's epochs only measure
    # The same fit by hand: presence of each id (n-grams included) scaled by its ratio.
    nb = model.get_layer("nb")
    ids = keras.Model(model.inputs, nb.input).predict(x, verbose=0)
    present = np.zeros((len(x), nb.rows))
    for row, row_ids in enumerate(ids):
        present[row, row_ids[row_ids > 0]] = 1.0
    ratio = np.asarray(nb.ratio)
    fit = LogisticRegression(
        C=0.5, solver="liblinear", dual=True, max_iter=1000, fit_intercept=intercept
    )
    fit.fit(sparse.csr_matrix(present * ratio), y)
    expected = fit.predict_proba(sparse.csr_matrix(present * ratio))[:, 1]
    np.testing.assert_allclose(model.predict(x, verbose=0).ravel(), expected, atol=1e-5)
    assert (float(nb.bias) != 0.0) == intercept
    reloaded = keras.Model.from_config(model.get_config())
    assert reloaded.get_layer("nb").get_config()["solver"] == "liblinear"
    assert reloaded.get_layer("nb").get_config()["C"] == 0.5
    assert reloaded.get_layer("nb").get_config()["intercept"] is intercept


def test_naive_bayes_smooths_by_alpha_and_interpolates_by_beta() -> None:
    """alpha smooths the ratios; beta < 1 moves liblinear's weights part way to their mean
    magnitude (Wang & Manning's interpolation), and a reloaded model keeps both."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    from rnnlab.models.registry import adapt_to_training_data

    settings = naive_bayes_settings(ngrams=1, ngram_buckets=0, solver="liblinear")
    settings.merge_with({"intercept": False, "alpha": 2.0, "beta": 0.25})
    model = build_model(settings, DataSpec("imdb", vocab_size=12, seq_len=5))
    rng = np.random.default_rng(1)
    x = rng.integers(2, 12, size=(80, 5)).astype("int32")
    y = ((x == 3).any(axis=1) ^ (rng.random(80) < 0.1)).astype("int32")
    adapt_to_training_data(settings, model, x, y)
    nb = model.get_layer("nb")
    present = np.zeros((len(x), nb.rows))
    for row, ids in enumerate(x):
        present[row, ids] = 1.0
    # Class counts smoothed by 2 (padding, id 0, left out), then the ratio of the shares.
    p = 2.0 + present[y == 1].sum(axis=0)
    q = 2.0 + present[y == 0].sum(axis=0)
    p[0] = q[0] = 0.0
    with np.errstate(invalid="ignore"):  # 0 / 0 at the padding id
        ratio = np.log((p / p.sum()) / (q / q.sum()))
    ratio[0] = 0.0
    np.testing.assert_allclose(np.asarray(nb.ratio), ratio, rtol=1e-5, atol=1e-6)
    fit = LogisticRegression(C=1.0, solver="liblinear", dual=True, max_iter=1000)
    fit.set_params(fit_intercept=False).fit(sparse.csr_matrix(present * ratio), y)
    weight = 0.75 * np.abs(fit.coef_[0]).mean() + 0.25 * fit.coef_[0]
    expected = 1 / (1 + np.exp(-(present * ratio) @ weight))
    np.testing.assert_allclose(model.predict(x, verbose=0).ravel(), expected, atol=1e-5)
    # Without interpolation the outputs are the plain fit's: beta is what moved them.
    unmoved = OmegaConf.merge(settings, {"beta": 1.0})
    plain = build_model(unmoved, DataSpec("imdb", vocab_size=12, seq_len=5))
    adapt_to_training_data(unmoved, plain, x, y)
    assert not np.allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-3)
    reloaded = keras.Model.from_config(model.get_config()).get_layer("nb").get_config()
    assert (reloaded["alpha"], reloaded["beta"]) == (2.0, 0.25)


def test_naive_bayes_interpolation_needs_the_liblinear_solver() -> None:
    settings = naive_bayes_settings(ngrams=1, ngram_buckets=0, solver="trainer", beta=0.5)
    with pytest.raises(ConfigError, match=r"model.beta=0.5 .* set model.solver=liblinear"):
        build_model(settings, DataSpec("imdb", vocab_size=10, seq_len=4))


def test_masked_max_ignores_padded_steps() -> None:
    from rnnlab.models.kinds.recurrent import MaskedGlobalMax

    x = np.array([[[1.0], [-2.0], [9.0]]], dtype="float32")
    mask = np.array([[True, True, False]])
    assert float(np.asarray(MaskedGlobalMax()(x, mask=mask))[0, 0]) == 1.0


def test_pooled_recurrent_outputs_ignore_padding() -> None:
    m = OmegaConf.create(
        {
            "type": "recurrent",
            "cell": "gru",
            "embedding_dim": 4,
            "units": [3],
            "bidirectional": True,
            "mask_padding": True,
            "dropout": 0.0,
            "recurrent_dropout": 0.0,
            "dense_units": 0,
            "pooling": "avg_max",
            "embedding_dropout": 0.2,
            "head_dropout": 0.2,
        }
    )
    model = build_model(m, DataSpec("imdb", vocab_size=20, seq_len=6))
    short = np.array([[5, 6, 7, 0, 0, 0]], dtype="int32")
    longer = np.array([[5, 6, 7, 0, 0, 0], [5, 6, 7, 8, 9, 0]], dtype="int32")
    a, b = model.predict(short, verbose=0), model.predict(longer, verbose=0)
    assert a[0, 0] == pytest.approx(b[0, 0], abs=1e-6) and b[0, 0] != pytest.approx(b[1, 0])


def word_vectors(tmp_path: Path, rows: int, dim: int) -> tuple[Path, np.ndarray]:
    vectors = np.random.default_rng(3).normal(size=(rows, dim)).astype("float32")
    vectors[:2] = 0.0  # padding and out-of-vocabulary, as word_vectors.learn leaves them
    np.save(tmp_path / "word_vectors.npy", vectors)
    return tmp_path / "word_vectors.npy", vectors


def pool_config(**changes) -> DictConfig:
    """A pool model config on the schema's defaults, so a new model setting needs no edit here."""
    from rnnlab.models.kinds.pool import PoolModel

    small = {
        "embedding_dim": 4,
        "mask_padding": True,
        "dense_units": 0,
        "pretrained_embedding": True,
    }
    return OmegaConf.merge(OmegaConf.structured(PoolModel), small, changes)


def test_pretrained_embedding_starts_from_the_word_vectors(tmp_path: Path) -> None:
    path, vectors = word_vectors(tmp_path, rows=20, dim=4)
    spec = DataSpec("imdb", vocab_size=20, seq_len=6, word_vectors=path)
    model = build_model(pool_config(), spec)
    np.testing.assert_array_equal(model.get_layer("embedding").get_weights()[0], vectors)

    # Hashed bigrams get rows after the words: those keep their random start.
    with_ngrams = build_model(pool_config(ngrams=2, ngram_buckets=10), spec)
    table = with_ngrams.get_layer("embedding").get_weights()[0]
    np.testing.assert_array_equal(table[:20], vectors)
    assert table.shape == (30, 4) and np.abs(table[20:]).min() > 0

    fresh = build_model(pool_config(pretrained_embedding=False), spec)
    assert not np.allclose(fresh.get_layer("embedding").get_weights()[0][2:], vectors[2:])


def test_missing_or_mismatched_word_vectors_are_a_clear_error(tmp_path: Path) -> None:
    path, _ = word_vectors(tmp_path, rows=20, dim=8)
    for spec in (
        DataSpec("imdb", vocab_size=20, seq_len=6),
        DataSpec("imdb", vocab_size=20, seq_len=6, word_vectors=path),
    ):
        with pytest.raises(DataError, match=r"has no 20 x 4 word vectors .*re-run its prepare"):
            build_model(pool_config(), spec)


def one_hot_regions(ids: np.ndarray, vocab: int, region: int) -> np.ndarray:
    """Each step's region as the concatenation of its tokens' one-hot vectors (padding and
    steps past the end as zero vectors)."""
    one_hot = np.eye(vocab)[ids] * (ids > 0)[..., None]
    past_end = np.zeros((ids.shape[0], region, vocab))
    padded = np.concatenate([one_hot, past_end], axis=1)
    return np.concatenate([padded[:, j : j + ids.shape[1]] for j in range(region)], axis=-1)


def test_region_convolution_is_a_product_with_concatenated_one_hot_regions() -> None:
    keras.utils.set_random_seed(3)
    ids = np.array([[3, 1, 4, 1, 0, 0], [0, 0, 5, 9, 2, 6]], dtype="int32")
    layer = RegionConvolution(vocab_size=10, region=3, filters=4, mask_padding=True)
    got = keras.ops.convert_to_numpy(layer(ids))
    tables, bias = (w.numpy() for w in layer.weights)
    # W_j's rows are columns j*4 .. j*4+3 of the side-by-side tables.
    weights = np.concatenate([tables[:, j * 4 : (j + 1) * 4] for j in range(3)], axis=0)
    want = np.maximum(one_hot_regions(ids, 10, 3) @ weights + bias, 0) * (ids > 0)[..., None]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert (got[0, 4:] == 0).all() and (got[1, :2] == 0).all()  # regions that start on padding
    assert (got > 0).any()


def test_region_cnn_saves_and_loads(tmp_path: Path) -> None:
    cfg = OmegaConf.structured(RegionCNNModel(region=2, filters=5))
    model = build_model(cfg, DataSpec(task="imdb", vocab_size=30, seq_len=12))
    x = np.random.default_rng(0).integers(0, 30, size=(4, 12)).astype("int32")
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
