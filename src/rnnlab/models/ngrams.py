"""N-gram feature layers the bag-of-n-grams kinds share (pool, naive_bayes): hashed n-gram
ids appended to the tokens, and each row's distinct ids (a binarised bag)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnnlab")
class HashedNGrams(keras.layers.Layer):
    """Appends hashed n-gram ids to a padded token sequence (fastText's bigram trick).

    Token ids stay as they are; each n-gram of n >= 2 consecutive non-padding tokens becomes
    `vocab_size + hash(n-gram) % buckets`, and n-grams touching padding become 0, so a
    following Embedding(mask_zero=True) + average ignores them. Computed inside the model,
    so the exported model still takes plain token ids (and raw text through the vectorizer).
    """

    # Odd multipliers for a polynomial hash over int64 token ids (no overflow for n <= 3
    # with vocabularies below 2**20).
    PRIMES = (1, 1_000_003, 998_244_353)

    def __init__(self, vocab_size: int, ngrams: int, buckets: int, **kwargs):
        super().__init__(**kwargs)
        if ngrams > len(self.PRIMES):
            raise ValueError(f"ngrams={ngrams} > {len(self.PRIMES)} is not supported")
        self.vocab_size, self.ngrams, self.buckets = vocab_size, ngrams, buckets

    def call(self, tokens):
        tokens = ops.cast(tokens, "int64")
        pieces = [tokens]
        for n in range(2, self.ngrams + 1):
            length = ops.shape(tokens)[1] - n + 1
            parts = [tokens[:, k : k + length] for k in range(n)]
            hashed = sum(part * self.PRIMES[k] for k, part in enumerate(parts))
            valid = parts[0] > 0
            for part in parts[1:]:
                valid = ops.logical_and(valid, part > 0)
            ids = self.vocab_size + ops.mod(hashed, self.buckets)
            pieces.append(ops.where(valid, ids, ops.zeros_like(ids)))
        return ops.cast(ops.concatenate(pieces, axis=1), "int32")

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        if length is None:
            return (input_shape[0], None)
        return (input_shape[0], sum(length - n + 1 for n in range(1, self.ngrams + 1)))

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "ngrams": self.ngrams,
            "buckets": self.buckets,
        }


@keras.saving.register_keras_serializable(package="rnnlab")
class DistinctIds(keras.layers.Layer):
    """Each row's ids sorted, repeats replaced by 0: a padded *set* of n-grams (binarised)."""

    def call(self, ids):
        ids = ops.sort(ids, axis=1)
        repeat = ops.concatenate(
            [ops.zeros_like(ids[:, :1], dtype="bool"), ids[:, 1:] == ids[:, :-1]], axis=1
        )
        return ops.where(repeat, ops.zeros_like(ids), ids)


def ngram_label(kind: str) -> Callable[[Mapping[str, str]], str]:
    """A bag-of-n-grams kind's leaderboard label: its name, with the n-gram order above 1."""

    def label(params: Mapping[str, str]) -> str:
        order = params.get("ngrams", "1")
        return kind if order == "1" else f"{kind} {order}-grams"

    return label
