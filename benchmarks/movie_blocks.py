"""Are aclImdb's review ids grouped by movie, and how much does a validation split leak?

The official archive's urls_*.txt (one movie URL per review id) are not in our mirror, so
this measures it from the text: capitalised words that are rare in the corpus (names,
titles) identify a movie. It prints

1. the Jaccard overlap of those rare words between reviews whose ids are 1 apart, 40
   apart, and random pairs (same split and label): if ids run movie by movie, neighbours
   overlap far more than random pairs;
2. for each validation split (random, and id blocks of several sizes), the share of a
   held-out review's rare words that also occur in the training reviews, beside the same
   share for the official test reviews (other movies than the training ones).

    .venv/bin/python benchmarks/movie_blocks.py data/interim/imdb_reviews.parquet
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

import numpy as np
import pandas as pd

from rnnlab.tasks.imdb.prepare import split_train_val

NAME = re.compile(r"[A-Z][a-z]{3,}")
RARE = 30  # a word in at most this many reviews counts as movie-specific
BLOCKS = (0, 100, 300, 500, 1000)


def names(text: str) -> set[str]:
    return set(NAME.findall(text))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def neighbour_overlap(table: pd.DataFrame, rare_words: set[str]) -> dict[str, float]:
    part = table[(table["split"] == "train") & (table["label"] == 1)].sort_values("id")
    words = [names(t) & rare_words for t in part["text"]]
    n = len(words)
    pairs = np.random.default_rng(0).integers(0, n, size=(5000, 2))
    return {
        "ids 1 apart": np.mean([jaccard(words[i], words[i + 1]) for i in range(n - 1)]),
        "ids 40 apart": np.mean([jaccard(words[i], words[i + 40]) for i in range(n - 40)]),
        "random pairs": np.mean([jaccard(words[i], words[j]) for i, j in pairs]),
    }


def seen_in_training(held_out: pd.DataFrame, train: pd.DataFrame, rare_words: set[str]) -> float:
    vocabulary = set().union(*(names(t) for t in train["text"]))
    shares = [
        len(words & vocabulary) / len(words)
        for words in (names(t) & rare_words for t in held_out["text"])
        if words
    ]
    return float(np.mean(shares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reviews", help="data/interim/imdb_reviews.parquet (from `dvc repro`)")
    table = pd.read_parquet(parser.parse_args().reviews)
    counts = Counter(w for t in table["text"] for w in names(t))
    rare_words = {w for w, c in counts.items() if c <= RARE}
    print("| pair of training reviews (positive) | rare-name Jaccard |\n|---|---|")
    for label, value in neighbour_overlap(table, rare_words).items():
        print(f"| {label} | {value:.5f} |")
    test_sample = table[table["split"] == "test"].sample(5000, random_state=0)
    print(
        "\n| validation split | val reviews | val names seen in train | test names seen in train |"
    )
    print("|---|---|---|---|")
    for block in BLOCKS:
        splits = split_train_val(table, 0.2, 42, block)
        label = f"id blocks of {block}" if block else "random"
        val = seen_in_training(splits["val"], splits["train"], rare_words)
        test = seen_in_training(test_sample, splits["train"], rare_words)
        print(f"| {label} | {len(splits['val']):,} | {val:.3f} | {test:.3f} |")


if __name__ == "__main__":
    main()
