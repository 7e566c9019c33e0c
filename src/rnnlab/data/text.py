"""The review vectorizer: one definition used by `prepare` and at inference time.

Tokens are lower-cased words after HTML line breaks are removed, and punctuation is either
removed or, with `punctuation=True`, kept as tokens of its own (PUNCTUATION's marks).
Reserved indices: 0 = padding, 1 = out-of-vocabulary ([UNK]); words get 2..vocab_size-1 by
descending training-split frequency.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

PAD_INDEX = 0
OOV_INDEX = 1
RESERVED = 2
# The marks kept as tokens with punctuation=True; every other symbol is a separator.
PUNCTUATION = '.,"()!?;:'


def standardize_review(text: tf.Tensor) -> tf.Tensor:
    """Lower-cased words: markup line breaks and every symbol but ' become spaces."""
    return tf.strings.regex_replace(lower_without_line_breaks(text), r"[^\p{L}\p{N}']+", " ")


def standardize_review_with_punctuation(text: tf.Tensor) -> tf.Tensor:
    """Lower-cased words and PUNCTUATION's marks, each mark a token of its own."""
    marks = "".join("\\" + mark for mark in PUNCTUATION)
    text = tf.strings.regex_replace(lower_without_line_breaks(text), f"([{marks}])", r" \1 ")
    return tf.strings.regex_replace(text, f"[^\\p{{L}}\\p{{N}}'{marks}]+", " ")


def lower_without_line_breaks(text: tf.Tensor) -> tf.Tensor:
    text = tf.strings.lower(text, encoding="utf-8")
    return tf.strings.regex_replace(text, r"<br\s*/?>", " ")


def make_vectorizer(
    vocab_size: int, vocabulary: list[str] | None = None, punctuation: bool = False
) -> keras.layers.Layer:
    """A TextVectorization layer emitting ragged token ids (padding is done separately)."""
    return keras.layers.TextVectorization(
        max_tokens=vocab_size,
        standardize=standardize_review_with_punctuation if punctuation else standardize_review,
        split="whitespace",
        output_mode="int",
        ragged=True,
        vocabulary=vocabulary,
        name="review_vectorizer",
    )


def fit_vocabulary(
    texts: list[str] | np.ndarray, vocab_size: int, punctuation: bool = False
) -> list[str]:
    """Vocabulary (without the reserved entries) from the given texts only."""
    vectorizer = make_vectorizer(vocab_size, punctuation=punctuation)
    vectorizer.adapt(
        tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=object)).batch(2048)
    )
    return vectorizer.get_vocabulary()[RESERVED:]


def encode(
    texts: list[str] | np.ndarray, vocabulary: list[str], punctuation: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of each text as (flat values, row splits)."""
    vectorizer = make_vectorizer(len(vocabulary) + RESERVED, vocabulary, punctuation)
    ragged = vectorizer(tf.constant(np.asarray(texts, dtype=object)))
    return ragged.flat_values.numpy(), ragged.row_splits.numpy()


def vectorize(
    texts: list[str] | np.ndarray,
    vocabulary: list[str],
    max_len: int,
    padding: str,
    truncating: str,
    punctuation: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Padded token ids (rows, max_len) and each text's token count before padding.

    The one path from raw reviews to model input, used by `prepare` and by the served models.
    """
    return pad_encoded(encode(texts, vocabulary, punctuation), max_len, padding, truncating)


def pad_encoded(
    encoded: tuple[np.ndarray, np.ndarray], max_len: int, padding: str, truncating: str
) -> tuple[np.ndarray, np.ndarray]:
    """`vectorize`'s second half, for texts already `encode`d (prepare also learns word
    vectors from the training split's encoding)."""
    from rnnlab.data.padding import pad_ragged

    values, row_splits = encoded
    return pad_ragged(values, row_splits, max_len, padding, truncating), np.diff(row_splits)


def save_vocabulary(path: Path, vocabulary: list[str]) -> None:
    path.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")


def load_vocabulary(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()
