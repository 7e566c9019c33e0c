"""Word vectors for a prepared IMDB vocabulary, learned from the training split's own text.

Skip-gram word2vec (gensim) over the training reviews, tokenised exactly as the models see
them, so row i of the matrix is the vector of token id i. No outside text and no validation
or test text: the vectors only add what the words' neighbours say, which the labels alone
teach an embedding slowly (IMDB has 25,000 labelled reviews for 30,000 words).
"""

from __future__ import annotations

import itertools
import logging
import zlib

import numpy as np

from rnnlab.data.splits import WORD_VECTORS_ARRAY
from rnnlab.data.text import RESERVED

log = logging.getLogger(__name__)
ARRAY = WORD_VECTORS_ARRAY  # <prepared folder>/word_vectors.npy
# gensim's defaults, but frequent words subsampled harder (1e-4 rather than 1e-3): in
# reviews "the", "movie" and "film" crowd out the words that carry sentiment. The number of
# passes is the dataset's (dataset.word_vector_epochs): 25,000 reviews need more than 5.
WINDOW = 5
NEGATIVE = 5
SUBSAMPLE = 1e-4


def stable_hash(text: str) -> int:
    """Seeds gensim's initial vectors; Python's own str hash changes from process to process."""
    return zlib.crc32(text.encode("utf-8"))


def token_sentences(values: np.ndarray, row_splits: np.ndarray) -> list[list[str]]:
    """Each review as its in-vocabulary token ids, as strings (gensim's word keys)."""
    known = values >= RESERVED
    return [
        [str(i) for i in values[start:end][known[start:end]]]
        for start, end in itertools.pairwise(row_splits)
    ]


def learn(
    tokens: tuple[np.ndarray, np.ndarray], words: int, dim: int, epochs: int, seed: int
) -> np.ndarray:
    """A (words + RESERVED, dim) float32 matrix indexed by token id, from the training
    reviews' token ids as (flat values, row splits) (rnnlab.data.text.encode)."""
    from gensim.models import Word2Vec  # imported here: only datasets with vectors need it

    values, row_splits = tokens
    model = Word2Vec(
        token_sentences(values, row_splits),
        vector_size=dim,
        window=WINDOW,
        negative=NEGATIVE,
        sample=SUBSAMPLE,
        epochs=epochs,
        sg=1,
        min_count=1,
        seed=seed,
        hashfxn=stable_hash,
        workers=1,  # one thread: the same vectors on every run (two threads race)
    )
    # Padding (masked) and out-of-vocabulary rows have no neighbours to learn from: zeros.
    matrix = np.zeros((words + RESERVED, dim), dtype=np.float32)
    for key, row in model.wv.key_to_index.items():
        matrix[int(key)] = model.wv.vectors[row]
    log.info("word vectors: %d of %d words, dim %d", len(model.wv), words, dim)
    return matrix
