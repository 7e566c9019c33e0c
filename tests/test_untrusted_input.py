"""Untrusted data: archives with traversal or links, pickles, unsafe Keras models."""

from __future__ import annotations

import tarfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from rnnlab.errors import DataError
from rnnlab.io import load_array
from rnnlab.models import load_model
from rnnlab.tasks.imdb import prepare as imdb

from .conftest import make_imdb_archive


def test_traversal_absolute_and_link_members_are_never_followed(tmp_path: Path) -> None:
    archive = make_imdb_archive(
        tmp_path / "a.tar.gz",
        per_class=3,
        extra_members={
            "../../escape.txt": b"x",
            "/tmp/absolute_9.txt": b"x",
            "aclImdb/train/pos/../../../evil_9.txt": b"x",
        },
        links={
            "aclImdb/train/pos/100_9.txt": ("/etc/passwd", tarfile.SYMTYPE),
            "aclImdb/train/neg/101_1.txt": ("aclImdb/README", tarfile.LNKTYPE),
        },
    )
    table = imdb.parse_archive(archive)
    assert len(table) == 12  # only the 3 x 4 regular labelled review files
    assert not {100, 101} & set(table["id"])
    assert (
        not (tmp_path.parent / "escape.txt").exists() and not Path("/tmp/absolute_9.txt").exists()
    )


def test_failed_prepare_keeps_the_previous_good_output(tmp_path: Path) -> None:
    archive = make_imdb_archive(tmp_path / "a.tar.gz")
    reviews = tmp_path / "reviews.parquet"
    imdb.write_reviews(archive, reviews)
    dataset = OmegaConf.create(
        {
            "name": "v",
            "vocab_size": 50,
            "max_len": 10,
            "read_len": 10,
            "padding": "post",
            "truncating": "post",
            "val_fraction": 0.25,
            "split_seed": 1,
            "punctuation": False,
        }
    )
    out = tmp_path / "prepared"
    imdb.prepare_reviews(dataset, reviews, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    pd.read_parquet(reviews).query("split == 'train'").to_parquet(reviews)  # test split lost
    with pytest.raises(DataError, match="needs both train and test reviews"):
        imdb.prepare_reviews(dataset, reviews, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".prepared")] == []


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "x_train.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load_array(tmp_path, "x_train")


def test_models_with_arbitrary_code_are_refused(tmp_path: Path) -> None:
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        load_model(tmp_path / "lambda.keras")
