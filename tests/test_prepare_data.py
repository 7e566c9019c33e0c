import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from rnnlab.data.splits import DataSpec, Splits
from rnnlab.data.text import (
    OOV_INDEX,
    PUNCTUATION,
    RESERVED,
    encode,
    load_vocabulary,
    vectorize,
)
from rnnlab.errors import DataError
from rnnlab.io import load_array, read_json, write_json
from rnnlab.tasks.imdb import prepare as imdb
from rnnlab.tasks.imdb import serve as imdb_serve
from rnnlab.tasks.shakespeare import prepare as shakespeare
from rnnlab.tasks.sine import prepare as sine
from rnnlab.training.selection import train_and_val

from .conftest import make_imdb_archive, make_shakespeare


def imdb_dataset(**changes):
    base = {
        "name": "imdb_test",
        "vocab_size": 50,
        "max_len": 12,
        "read_len": 12,
        "padding": "post",
        "truncating": "pre",
        "val_fraction": 0.25,
        "split_seed": 1,
        "word_vector_epochs": 2,
        "punctuation": False,
    }
    return OmegaConf.create(base | changes)


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    archive = make_imdb_archive(tmp_path / "aclImdb_v1.tar.gz")
    return imdb.write_reviews(archive, tmp_path / "reviews.parquet") is not None and (
        tmp_path / "reviews.parquet"
    )


def test_parse_reads_labelled_reviews_only(reviews: Path) -> None:
    table = pd.read_parquet(reviews)
    assert len(table) == 80  # 20 per class x 2 classes x 2 splits; unsup and .feat skipped
    assert table.groupby(["split", "label"], observed=True).size().tolist() == [20, 20, 20, 20]
    assert set(table.columns) == {"split", "id", "rating", "label", "text"}
    assert (table.loc[table["label"] == 1, "rating"] >= 7).all()
    assert (table.loc[table["label"] == 0, "rating"] <= 4).all()


def test_vocabulary_never_sees_validation_or_test_text(reviews: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    meta = imdb.prepare_reviews(imdb_dataset(), reviews, out)
    vocabulary = load_vocabulary(out / "vocab.txt")
    assert "testonlyword" not in vocabulary  # appears in every test review, never in train
    assert meta["sizes"] == {"train": 30, "val": 10, "test": 40}
    assert meta["positives"]["val"] == 5  # stratified: half of the validation split
    x_test = load_array(out, "x_test")
    assert (x_test == OOV_INDEX).any(axis=1).all()


def test_validation_reviews_are_held_out_of_train(reviews: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    imdb.prepare_reviews(imdb_dataset(), reviews, out)
    train_ids = set(zip(load_array(out, "id_train"), load_array(out, "y_train"), strict=True))
    val_ids = set(zip(load_array(out, "id_val"), load_array(out, "y_val"), strict=True))
    assert not train_ids & val_ids
    assert len(train_ids | val_ids) == 40


def runs_of_consecutive_ids(ids: np.ndarray) -> list[int]:
    ids = np.sort(ids)
    breaks = np.flatnonzero(np.diff(ids) != 1)
    return np.diff(np.concatenate([[0], breaks + 1, [len(ids)]])).tolist()


def test_block_validation_keeps_runs_of_consecutive_ids_together() -> None:
    ids = np.arange(1000)
    table = pd.DataFrame(
        {
            "split": ["train"] * 2000 + ["test"] * 2,
            "id": np.concatenate([ids, ids, [0, 1]]),
            "label": [0] * 1000 + [1] * 1000 + [0, 1],
            "text": "x",
        }
    )
    splits = imdb.split_train_val(table, val_fraction=0.2, seed=3, block_size=100)
    val = splits["val"]
    for label in (0, 1):
        # 10 blocks of 100 ids per label, 2 of them for validation: whole runs of 100.
        assert runs_of_consecutive_ids(val[val["label"] == label]["id"].to_numpy()) in (
            [100, 100],
            [200],
        )
    assert len(splits["train"]) == 1600 and len(val) == 400
    train_keys = set(zip(splits["train"]["label"], splits["train"]["id"], strict=True))
    assert not train_keys & set(zip(val["label"], val["id"], strict=True))
    again = imdb.split_train_val(table, val_fraction=0.2, seed=3, block_size=100)
    assert again["val"].equals(val)  # seeded


def test_block_validation_on_a_small_table_still_holds_out_a_share(reviews: Path) -> None:
    splits = imdb.split_train_val(pd.read_parquet(reviews), 0.25, 1, block_size=100)
    val = splits["val"]
    assert sorted(val["label"].value_counts().tolist()) == [5, 5]  # 20 ids -> 4 blocks of 5
    assert all(
        runs_of_consecutive_ids(val[val["label"] == label]["id"].to_numpy()) == [5]
        for label in (0, 1)
    )


def test_arrays_are_padded_as_configured(reviews: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    imdb.prepare_reviews(imdb_dataset(max_len=40, padding="pre"), reviews, out)
    x = load_array(out, "x_train")
    assert x.shape == (30, 40) and x.dtype == np.int32
    assert (x[:, 0] == 0).all() and (x[:, -1] != 0).all()  # pre padding keeps the end
    vocabulary = load_vocabulary(out / "vocab.txt")
    assert len(vocabulary) + 2 <= 50


def test_held_out_reviews_are_read_to_read_len_and_refit_rows_cut_as_training(
    reviews: Path, tmp_path: Path
) -> None:
    cut = imdb_dataset(max_len=6, read_len=6, padding="post", truncating="pre")
    imdb.prepare_reviews(cut, reviews, tmp_path / "cut")
    whole = imdb_dataset(max_len=6, read_len=40, padding="post", truncating="pre")
    imdb.prepare_reviews(whole, reviews, tmp_path / "whole")
    assert read_json(tmp_path / "whole" / "meta.json")["read_len"] == 40
    for split in ("train", "val", "test"):
        short, long = (load_array(tmp_path / v, f"x_{split}") for v in ("cut", "whole"))
        assert long.shape[1] == (6 if split == "train" else 40)
        if split != "train":  # every review is longer than 6 tokens: more of it is read
            assert ((long != 0).sum(axis=1) > 6).all()
        splits = Splits(
            DataSpec("imdb"), {"train": (short, short[:, 0]), "val": (long, long[:, 0])}
        )
        refit = train_and_val(splits, cut).arrays["train"][0]
        np.testing.assert_array_equal(refit, np.concatenate([short, short]))


def test_vectorizer_is_reusable_on_raw_text(reviews: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    imdb.prepare_reviews(imdb_dataset(), reviews, out)
    vocabulary = load_vocabulary(out / "vocab.txt")
    values, splits = encode(["This movie was GREAT.<br />zzzunknown"], vocabulary)
    tokens = values[splits[0] : splits[1]].tolist()
    assert tokens[:4] == [vocabulary.index(w) + 2 for w in ("this", "movie", "was", "great")]
    assert tokens[4] == OOV_INDEX
    assert "br" not in vocabulary


def test_a_variant_with_punctuation_keeps_the_marks_in_its_vocabulary(
    reviews: Path, tmp_path: Path
) -> None:
    plain = imdb.prepare_reviews(imdb_dataset(vocab_size=200), reviews, tmp_path / "plain")
    marked = imdb.prepare_reviews(
        imdb_dataset(vocab_size=200, punctuation=True), reviews, tmp_path / "marked"
    )
    assert plain["punctuation"] is False and marked["punctuation"] is True
    assert not set(PUNCTUATION) & set(load_vocabulary(tmp_path / "plain" / "vocab.txt"))
    assert {"!", "."} <= set(load_vocabulary(tmp_path / "marked" / "vocab.txt"))


def test_punctuation_marks_are_tokens_of_their_own() -> None:
    review = 'Great!! (Really?) "Fine", said he; ok: the end. <br />x#y'
    words = ["great", "really", "fine", "said", "he", "ok", "the", "end", "x", "y"]
    vocabulary = words + list(PUNCTUATION)

    def tokens(punctuation: bool) -> list[str]:
        values, _ = encode([review], vocabulary, punctuation)
        return [vocabulary[i - RESERVED] if i >= RESERVED else "[UNK]" for i in values]

    # '#' and markup are separators either way.
    assert tokens(False) == words
    assert tokens(True) == [
        *("great", "!", "!", "(", "really", "?", ")", '"', "fine", '"', ","),
        *("said", "he", ";", "ok", ":", "the", "end", ".", "x", "y"),
    ]


def test_the_served_model_tokenizes_as_its_prepared_variant(reviews: Path, tmp_path: Path) -> None:
    for name, punctuation in (("plain", False), ("marked", True)):
        dataset = imdb_dataset(vocab_size=200, max_len=8, punctuation=punctuation)
        meta = imdb.prepare_reviews(dataset, reviews, tmp_path / name)
        settings = imdb_serve.preprocessing(meta, UNBUCKETED)
        assert settings["punctuation"] is punctuation
        vocabulary = load_vocabulary(tmp_path / name / "vocab.txt")
        _, lengths = vectorize(
            ["Bad! Bad."], vocabulary, 8, "post", "post", settings["punctuation"]
        )
        assert lengths.tolist() == [4 if punctuation else 2]
    assert set(imdb_serve.preprocessing(meta, UNBUCKETED)) == {
        "vocab_size",
        "max_len",
        "read_len",
        "padding",
        "truncating",
        "punctuation",
        "bucket_padding",
    }
    bucketed = OmegaConf.create(
        {"dataset": {"padding": "pre"}, "trainer": {"bucket_by_length": True}}
    )
    assert imdb_serve.preprocessing(meta, bucketed)["bucket_padding"] == "pre"


UNBUCKETED = OmegaConf.create(
    {"dataset": {"padding": "post"}, "trainer": {"bucket_by_length": False}}
)


def test_the_served_model_reads_a_review_as_far_as_evaluation_does(tmp_path: Path) -> None:
    import keras

    # A stand-in model whose output is the number of tokens it was given, over 100.
    tokens = keras.Input((None,), dtype="int32")
    read = keras.layers.Lambda(
        lambda ids: keras.ops.sum(keras.ops.cast(ids > 0, "float32"), 1, keepdims=True) / 100
    )(tokens)
    classifier = imdb_serve.ReviewClassifier()
    classifier.model, classifier.vocabulary = keras.Model(tokens, read), ["good"]
    settings = {"vocab_size": 3, "max_len": 10, "padding": "post", "truncating": "pre"}
    for recorded, tokens_read in (({"read_len": 20}, 20), ({}, 10)):  # {}: an older package
        write_json(tmp_path / "preprocessing.json", settings | recorded)
        classifier.settings = imdb_serve.read_settings(tmp_path / "preprocessing.json")
        served = classifier.classify(["good " * 30])
        assert served["probability"].tolist() == pytest.approx([tokens_read / 100])
        assert served["tokens"].tolist() == [30]


def test_a_model_trained_on_bucketed_batches_is_served_trimmed_of_padding(tmp_path: Path) -> None:
    import keras

    # A stand-in model whose output is the width of the rows it was given, over 100.
    tokens = keras.Input((None,), dtype="int32")
    width = keras.layers.Lambda(
        lambda ids: (
            keras.ops.cast(keras.ops.ones_like(ids[:, :1]) * keras.ops.shape(ids)[1], "float32")
            / 100
        ),
        output_shape=(1,),
    )(tokens)
    classifier = imdb_serve.ReviewClassifier()
    classifier.model, classifier.vocabulary = keras.Model(tokens, width), ["good"]
    settings = {"vocab_size": 3, "max_len": 10, "read_len": 20, "truncating": "pre"}
    reviews = ["good " * 4, "good " * 7, "good " * 30]
    for padding in ("post", "pre"):
        for bucket, widths in ((padding, [4, 7, 20]), (None, [20, 20, 20])):
            recorded = settings | {"padding": padding, "bucket_padding": bucket}
            write_json(tmp_path / "preprocessing.json", recorded)
            classifier.settings = imdb_serve.read_settings(tmp_path / "preprocessing.json")
            served = pd.concat([classifier.classify([text]) for text in reviews])
            assert served["probability"].tolist() == pytest.approx([w / 100 for w in widths])


def test_non_utf8_review_is_a_clear_error(tmp_path: Path) -> None:
    archive = make_imdb_archive(
        tmp_path / "a.tar.gz",
        extra_members={"aclImdb/train/pos/999_9.txt": b"caf\xe9 latin-1 bytes"},
    )
    with pytest.raises(DataError, match=r"999_9\.txt is not valid UTF-8"):
        imdb.write_reviews(archive, tmp_path / "reviews.parquet")
    assert not (tmp_path / "reviews.parquet").exists()


def test_truncated_archive_is_a_clear_error(tmp_path: Path) -> None:
    archive = make_imdb_archive(tmp_path / "a.tar.gz")
    archive.write_bytes(archive.read_bytes()[:500])
    with pytest.raises(DataError, match="not a readable tar archive"):
        imdb.write_reviews(archive, tmp_path / "reviews.parquet")


def test_shakespeare_split_and_shift(tmp_path: Path) -> None:
    text_path = make_shakespeare(tmp_path / "s.txt", repeats=20)
    text = text_path.read_text()
    dataset = OmegaConf.create({"name": "s", "seq_len": 10, "val_seq_len": 10, "val_fraction": 0.1})
    meta = shakespeare.prepare_text(dataset, text_path, tmp_path / "out")
    vocabulary = json.loads((tmp_path / "out" / "vocab.json").read_text())
    assert vocabulary == sorted(set(text))
    x, y = load_array(tmp_path / "out", "x_train"), load_array(tmp_path / "out", "y_train")
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    decoded = "".join(vocabulary[i] for i in x[0]) + vocabulary[y[0, -1]]
    assert decoded == text[:11]
    boundary = int(len(text) * 0.9)
    x_val = load_array(tmp_path / "out", "x_val")
    assert "".join(vocabulary[i] for i in x_val[0]) == text[boundary : boundary + 10]
    assert meta["sizes"]["val"]["characters"] == len(text) - boundary


def test_shakespeare_validation_blocks_have_their_own_length(tmp_path: Path) -> None:
    text_path = make_shakespeare(tmp_path / "s.txt", repeats=20)
    text = text_path.read_text()
    dataset = OmegaConf.create({"name": "s", "seq_len": 10, "val_seq_len": 25, "val_fraction": 0.1})
    meta = shakespeare.prepare_text(dataset, text_path, tmp_path / "out")
    assert load_array(tmp_path / "out", "x_train").shape[1] == 10
    x_val, y_val = load_array(tmp_path / "out", "x_val"), load_array(tmp_path / "out", "y_val")
    val_chars = len(text) - int(len(text) * 0.9)
    assert x_val.shape == y_val.shape == (val_chars // 26, 25)
    assert (meta["seq_len"], meta["val_seq_len"]) == (10, 25)


def test_validation_tail_shorter_than_a_block_names_the_setting(tmp_path: Path) -> None:
    text_path = make_shakespeare(tmp_path / "s.txt", repeats=20)
    dataset = OmegaConf.create(
        {"name": "s", "seq_len": 10, "val_seq_len": 5000, "val_fraction": 0.1}
    )
    with pytest.raises(DataError, match=r"fewer than val_seq_len\+1=5001.*dataset.val_seq_len"):
        shakespeare.prepare_text(dataset, text_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_empty_text_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    dataset = OmegaConf.create({"name": "s", "seq_len": 10, "val_fraction": 0.1})
    with pytest.raises(DataError, match="is empty"):
        shakespeare.prepare_text(dataset, empty, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sine_follows_seed_002_generator(tmp_path: Path) -> None:
    dataset = OmegaConf.create(
        {
            "name": "sine",
            "train_examples": 10000,
            "test_examples": 1000,
            "steps": 10,
            "gap": 0.01,
            "val_fraction": 0.1,
        }
    )
    sine.write_curves(dataset, tmp_path)
    test_start = (10000 + 10) * 0.01
    expected_curve = np.sin(np.linspace(0, test_start, 10010, dtype=np.float32))
    x_train, x_val = load_array(tmp_path, "x_train_book"), load_array(tmp_path, "x_val_book")
    assert x_train.shape == (9000, 1, 10) and x_val.shape == (1000, 1, 10)
    np.testing.assert_array_equal(x_train[5, 0], expected_curve[5:15])
    np.testing.assert_array_equal(load_array(tmp_path, "y_train")[5, 0], expected_curve[15])
    x_steps = load_array(tmp_path, "x_test_steps")
    assert x_steps.shape == (1000, 10, 1)
    np.testing.assert_array_equal(x_steps[:, :, 0], load_array(tmp_path, "x_test_book")[:, 0, :])
    test_curve = np.sin(np.linspace(test_start, test_start + 10.10, 1010, dtype=np.float32))
    np.testing.assert_array_equal(x_steps[0, :, 0], test_curve[:10])


def test_training_batches_gather_every_example_once_per_epoch() -> None:
    from rnnlab.data.arrays import to_dataset

    x = np.arange(22).reshape(11, 2)
    y = np.arange(11)
    epochs = list(to_dataset(x, y, 4, True, seed=3).repeat(2))
    labels = [b.numpy() for _, b in epochs]
    assert [len(b) for b in labels] == [4, 4, 3, 4, 4, 3]
    epoch1, epoch2 = np.concatenate(labels[:3]), np.concatenate(labels[3:])
    assert sorted(epoch1) == list(range(11)) and sorted(epoch2) == list(range(11))
    assert epoch1.tolist() != epoch2.tolist()  # reshuffled every epoch
    for xs, ys in epochs:
        np.testing.assert_array_equal(xs.numpy(), x[ys.numpy()])  # rows stay paired
    again = [b.numpy().tolist() for _, b in to_dataset(x, y, 4, True, seed=3).repeat(2)]
    assert again == [b.tolist() for b in labels]  # seeded
    plain = np.concatenate([b.numpy() for _, b in to_dataset(x, y, 4, False, 0)])
    assert plain.tolist() == list(range(11))


def test_word_vectors_come_from_the_training_text_alone(reviews: Path, tmp_path: Path) -> None:
    dataset = imdb_dataset(word_vectors=8, val_block_size=0)
    imdb.prepare_reviews(dataset, reviews, tmp_path / "prepared")
    vectors = load_array(tmp_path / "prepared", "word_vectors")
    vocabulary = load_vocabulary(tmp_path / "prepared" / "vocab.txt")
    assert vectors.shape == (len(vocabulary) + 2, 8) and vectors.dtype == np.float32
    assert not vectors[:2].any()  # padding and out-of-vocabulary start at zero
    assert (np.abs(vectors[2:]).sum(axis=1) > 0).all()  # every vocabulary word was learned

    table = pd.read_parquet(reviews)
    splits = imdb.split_train_val(table, dataset.val_fraction, dataset.split_seed)
    held_out = table.index.isin(splits["val"].index) | (table["split"] == "test")

    def vectors_with(changed_rows) -> np.ndarray:
        edited = table.copy()
        edited.loc[changed_rows, "text"] = edited.loc[changed_rows, "text"].str[::-1]
        edited.to_parquet(tmp_path / "edited.parquet")
        imdb.prepare_reviews(dataset, tmp_path / "edited.parquet", tmp_path / "edited")
        return load_array(tmp_path / "edited", "word_vectors")

    np.testing.assert_array_equal(vectors_with(held_out), vectors)  # and the same every run
    assert not np.array_equal(vectors_with(~held_out), vectors)


def test_word_vectors_train_for_the_dataset_s_epochs(reviews: Path, tmp_path: Path) -> None:
    vectors = {}
    for epochs in (1, 3):
        dataset = imdb_dataset(word_vectors=8, word_vector_epochs=epochs)
        meta = imdb.prepare_reviews(dataset, reviews, tmp_path / f"e{epochs}")
        assert meta["word_vector_epochs"] == epochs
        vectors[epochs] = load_array(tmp_path / f"e{epochs}", "word_vectors")
    assert not np.allclose(vectors[1], vectors[3])


def test_datasets_without_word_vectors_write_none(reviews: Path, tmp_path: Path) -> None:
    meta = imdb.prepare_reviews(imdb_dataset(), reviews, tmp_path / "prepared")
    assert not (tmp_path / "prepared" / "word_vectors.npy").exists()
    assert "word_vectors" not in meta


def test_a_rerun_prepares_the_same_bytes(reviews: Path, tmp_path: Path) -> None:
    """DVC hashes the folder: any changed byte (a timing, say) would retrain every model."""
    dataset = imdb_dataset(word_vectors=8)
    folders = [tmp_path / "first", tmp_path / "second"]
    for folder in folders:
        imdb.prepare_reviews(dataset, reviews, folder)
    names = sorted(path.name for path in folders[0].iterdir())
    assert "word_vectors.npy" in names and "meta.json" in names
    for name in names:
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name
    assert json.loads((folders[0] / "meta.json").read_text())["word_vectors"] == 8
