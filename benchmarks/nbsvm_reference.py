"""The published NBSVM recipe (mesnilgr/nbsvm, Mesnil et al. 2015) on our IMDB splits.

Outside the pipeline and its Keras model, as a reference for `imdb_naive_bayes`: the
published tokenisation (lower case, punctuation split off, `<br />` dropped), every n-gram
of the training reviews (no vocabulary cap, no hashing, no truncation), naive-Bayes ratios
from the n-gram counts, presence features scaled by them, and liblinear's L2-regularised
logistic regression with C = 1 and no bias term.

    python benchmarks/nbsvm_reference.py --split-seeds 42 43 44 --out benchmarks/results/nbsvm_reference.jsonl

By default it scores movie-grouped validation splits (the pipeline's `split_train_val`,
blocks of 500 ids) only; `--test` instead fits on all 25,000 training reviews and scores
the official test reviews, to read once per recipe. `--tokens pipeline` swaps in the
pipeline's own tokens (punctuation removed, `rnnlab.data.text`), all else published: what
the tokens alone are worth.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from rnnlab.tasks.imdb.prepare import REVIEWS_TABLE, split_train_val

# oh_my_go.sh's normalize_text: these characters become tokens of their own.
SPLIT_OFF = '.",()!?;:'


def normalize(text: str) -> str:
    text = text.lower().replace("<br />", " ")
    for char in SPLIT_OFF:
        text = text.replace(char, f" {char} ")
    return text


def tokens(text: str) -> list[str]:
    return normalize(text).split()


def pipeline_texts(table: pd.DataFrame) -> pd.DataFrame:
    """The reviews as the pipeline's vectorizer standardizes them, words between spaces."""
    import tensorflow as tf

    from rnnlab.data.text import standardize_review

    standardized = standardize_review(tf.constant(table["text"].tolist())).numpy()
    return table.assign(text=[text.decode("utf-8") for text in standardized])


def nbsvm_accuracy(
    train: pd.DataFrame,
    scored: pd.DataFrame,
    ngrams: int,
    C: float,
    tokenizer: Callable[[str], list[str]] = tokens,
) -> float:
    """Fit on `train`, return the accuracy on `scored` (both: text, label columns)."""
    counter = CountVectorizer(
        tokenizer=tokenizer, lowercase=False, token_pattern=None, ngram_range=(1, ngrams)
    )
    counts = counter.fit_transform(train["text"].tolist())
    labels = train["label"].to_numpy() == 1
    p = 1 + np.asarray(counts[labels].sum(axis=0)).ravel()
    q = 1 + np.asarray(counts[~labels].sum(axis=0)).ravel()
    ratio = sparse.diags(np.log((p / p.sum()) / (q / q.sum())))
    fit = LogisticRegression(C=C, solver="liblinear", fit_intercept=False, dual=True)
    fit.fit(presence(counts) @ ratio, labels)
    predicted = fit.predict(presence(counter.transform(scored["text"].tolist())) @ ratio)
    return float((predicted == (scored["label"].to_numpy() == 1)).mean())


def presence(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    binary = counts.astype(np.float64)
    binary.data[:] = 1.0
    return binary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=Path, default=Path("data/interim") / REVIEWS_TABLE)
    parser.add_argument("--ngrams", type=int, nargs="*", default=[3, 2])
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--split-seeds", type=int, nargs="*", default=[42])
    parser.add_argument("--block-size", type=int, default=500)
    parser.add_argument("--test", action="store_true", help="score the official test reviews")
    parser.add_argument(
        "--tokens", choices=["published", "pipeline"], default="published", help="tokenisation"
    )
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to append to")
    args = parser.parse_args()
    table = pd.read_parquet(args.reviews)
    tokenizer, suffix = tokens, ""
    if args.tokens == "pipeline":
        table, tokenizer, suffix = pipeline_texts(table), str.split, "_pipeline_tokens"
    seeds = [None] if args.test else args.split_seeds
    for seed in seeds:
        if seed is None:
            train, scored = table[table["split"] == "train"], table[table["split"] == "test"]
        else:
            splits = split_train_val(table, 0.2, seed, args.block_size)
            train, scored = splits["train"], splits["val"]
        for ngrams in args.ngrams:
            started = time.perf_counter()
            accuracy = nbsvm_accuracy(train, scored, ngrams, args.C, tokenizer)
            record = {
                "label": f"reference_{ngrams}grams{suffix}",
                "scored": "test" if seed is None else "val",
                "split_seed": seed,
                "accuracy": round(accuracy, 4),
                "seconds": round(time.perf_counter() - started, 1),
            }
            with args.out.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
