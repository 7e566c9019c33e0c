"""The review vectorizer: one definition used by `prepare` and at inference time.

Tokens are lower-cased words after HTML line breaks and punctuation are removed.
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


@keras.saving.register_keras_serializable(package="rnnlab")
def standardize_review(text: tf.Tensor) -> tf.Tensor:
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"<br\s*/?>", " ")
    return tf.strings.regex_replace(text, r"[^\p{L}\p{N}']+", " ")


def make_vectorizer(vocab_size: int, vocabulary: list[str] | None = None) -> keras.layers.Layer:
    """A TextVectorization layer emitting ragged token ids (padding is done separately)."""
    return keras.layers.TextVectorization(
        max_tokens=vocab_size,
        standardize=standardize_review,
        split="whitespace",
        output_mode="int",
        ragged=True,
        vocabulary=vocabulary,
        name="review_vectorizer",
    )


def fit_vocabulary(texts: list[str] | np.ndarray, vocab_size: int) -> list[str]:
    """Vocabulary (without the reserved entries) from the given texts only."""
    vectorizer = make_vectorizer(vocab_size)
    vectorizer.adapt(
        tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=object)).batch(2048)
    )
    return vectorizer.get_vocabulary()[RESERVED:]


def encode(texts: list[str] | np.ndarray, vocabulary: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of each text as (flat values, row splits)."""
    vectorizer = make_vectorizer(len(vocabulary) + RESERVED, vocabulary)
    ragged = vectorizer(tf.constant(np.asarray(texts, dtype=object)))
    return ragged.flat_values.numpy(), ragged.row_splits.numpy()


def vectorize(
    texts: list[str] | np.ndarray,
    vocabulary: list[str],
    max_len: int,
    padding: str,
    truncating: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Padded token ids (rows, max_len) and each text's token count before padding.

    The one path from raw reviews to model input, used by `prepare` and by the served models.
    """
    from rnnlab.data.padding import pad_ragged

    values, row_splits = encode(texts, vocabulary)
    return pad_ragged(values, row_splits, max_len, padding, truncating), np.diff(row_splits)


def save_vocabulary(path: Path, vocabulary: list[str]) -> None:
    path.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")


def load_vocabulary(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()
