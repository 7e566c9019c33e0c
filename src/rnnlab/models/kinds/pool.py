"""The `pool` kind: an embedding averaged over the review (optionally its hashed n-grams,
each distinct id once, word dropout) and a classifier head (seed 004's pooling model)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops

from rnnlab.data.splits import DataSpec
from rnnlab.models.ngrams import DistinctIds, HashedNGrams, ngram_label
from rnnlab.models.parts import classifier_head, embed
from rnnlab.models.registry import ModelKind


@dataclass
class PoolModel:
    type: str = "pool"
    embedding_dim: int = 16
    mask_padding: bool = False
    dense_units: int = 64
    dropout: float = 0.0
    ngrams: int = 1
    ngram_buckets: int = 0
    pretrained_embedding: bool = False
    word_dropout: float = 0.0
    distinct_tokens: bool = False


@keras.saving.register_keras_serializable(package="rnnlab")
class WordDropout(keras.layers.Layer):
    """Drops whole tokens while training by setting their ids to 0 (padding), so a following
    Embedding(mask_zero=True) + average leaves them out: the deep averaging network's word
    dropout (Iyyer et al. 2015). A review that would lose every token keeps them all, since
    an empty masked average is 0/0. At inference the ids pass through unchanged."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, ids, training=False):
        if not training or not self.rate:
            return ids
        draws = keras.random.uniform(ops.shape(ids), seed=self.seed_generator)
        kept = ops.logical_and(draws >= self.rate, ids > 0)
        emptied = ops.logical_not(ops.any(kept, axis=1, keepdims=True))
        kept = ops.logical_or(kept, emptied)
        return ops.where(kept, ids, ops.zeros_like(ids))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def build_pool(m, data: DataSpec) -> keras.Model:
    tokens = keras.Input(shape=(data.seq_len,), dtype="int32", name="tokens")
    ids, rows = tokens, data.vocab_size
    if m.ngrams > 1:
        ids = HashedNGrams(data.vocab_size, m.ngrams, m.ngram_buckets, name="ngrams")(tokens)
        rows += m.ngram_buckets
    if m.distinct_tokens:
        ids = DistinctIds(name="distinct")(ids)
    if m.word_dropout:
        ids = WordDropout(m.word_dropout, name="word_dropout")(ids)
    # With n-grams, distinct tokens or word dropout the padding must be masked, or every
    # padded (repeated, dropped) slot would dilute the average.
    mask = m.mask_padding or m.ngrams > 1 or m.distinct_tokens or bool(m.word_dropout)
    x = embed(ids, rows, m, data, mask)
    x = keras.layers.GlobalAveragePooling1D(name="average")(x)
    return keras.Model(tokens, classifier_head(x, m.dense_units, m.dropout), name="pool")


KIND = ModelKind(PoolModel, build_pool, ("binary_text",), label=ngram_label("pool"))
