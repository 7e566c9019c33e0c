import keras
import numpy as np
import pytest

from rnnlab.data.padding import pad_lists, repad


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_matches_keras_pad_sequences(padding: str, truncating: str) -> None:
    rng = np.random.default_rng(0)
    sequences = [list(rng.integers(1, 100, size=n)) for n in rng.integers(0, 25, size=200)]
    ours = pad_lists(sequences, maxlen=12, padding=padding, truncating=truncating)
    theirs = keras.utils.pad_sequences(sequences, maxlen=12, padding=padding, truncating=truncating)
    np.testing.assert_array_equal(ours, theirs)


def test_explicit_example() -> None:
    out = pad_lists([[1, 2, 3, 4], [5]], maxlen=3, padding="pre", truncating="post")
    np.testing.assert_array_equal(out, [[1, 2, 3], [0, 0, 5]])


def test_rejects_unknown_side() -> None:
    with pytest.raises(ValueError, match="padding and truncating"):
        pad_lists([[1]], maxlen=3, padding="middle")


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_repad_cuts_padded_rows_as_padding_the_rows_would(padding: str, truncating: str) -> None:
    rng = np.random.default_rng(1)
    sequences = [list(rng.integers(1, 100, size=n)) for n in rng.integers(0, 30, size=200)]
    wide = pad_lists(sequences, maxlen=30, padding=padding, truncating=truncating)
    narrow = repad(wide, 12, padding, truncating)
    expected = pad_lists(sequences, maxlen=12, padding=padding, truncating=truncating)
    np.testing.assert_array_equal(narrow, expected)
    assert narrow.dtype == wide.dtype
