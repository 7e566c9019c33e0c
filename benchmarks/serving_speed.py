"""Seconds a packaged IMDB model takes to classify raw test reviews, as packaged and with its
rows padded to `read_len` (the package's `bucket_padding` set to null), and the largest
difference between the two outputs.

A model trained on length-bucketed batches masks its padding, so serving it on rows trimmed
to the longest review of each batch gives the same probabilities in less time. Reads the
reviews from data/interim/imdb_reviews.parquet (after `make repro`); the labels are not used.

    python benchmarks/serving_speed.py serving/imdb_lstm --reviews 2000 --batches 1 100
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from rnnlab.io import read_json, write_json

REVIEWS = Path("data/interim/imdb_reviews.parquet")


def padded_copy(serving: Path, folder: Path) -> Path:
    """The package with bucket_padding set to null: every row padded to read_len."""
    copy = folder / serving.name
    shutil.copytree(serving, copy)
    settings = copy / "artifacts" / "preprocessing.json"
    write_json(settings, {**read_json(settings), "bucket_padding": None})
    return copy


def timed_outputs(model, texts: list[str], batch: int) -> tuple[float, np.ndarray]:
    """Seconds to classify `texts` in requests of `batch` reviews, and the probabilities."""
    model.predict(pd.DataFrame({"text": texts[:batch]}))  # traces the graph once
    start = time.perf_counter()
    parts = [
        model.predict(pd.DataFrame({"text": texts[i : i + batch]}))["probability"].to_numpy()
        for i in range(0, len(texts), batch)
    ]
    return time.perf_counter() - start, np.concatenate(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("serving", type=Path, help="a packaged IMDB model, e.g. serving/imdb_lstm")
    parser.add_argument("--reviews", type=int, default=2000, help="test reviews to classify")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 100], help="per request")
    args = parser.parse_args()
    reviews = pd.read_parquet(REVIEWS, columns=["split", "text"])
    texts = reviews[reviews.split == "test"].text.sample(args.reviews, random_state=0).tolist()
    settings = read_json(args.serving / "artifacts" / "preprocessing.json")
    print(f"{args.serving}: bucket_padding={settings.get('bucket_padding')}, {len(texts)} reviews")
    with tempfile.TemporaryDirectory() as tmp:
        models = {
            "as packaged": mlflow.pyfunc.load_model(str(args.serving)),
            "padded to read_len": mlflow.pyfunc.load_model(
                str(padded_copy(args.serving, Path(tmp)))
            ),
        }
        for batch in args.batches:
            results = {name: timed_outputs(m, texts, batch) for name, m in models.items()}
            (fast, out), (slow, padded) = results.values()
            print(
                f"{batch} per request: {fast:.1f} s as packaged, {slow:.1f} s padded "
                f"({slow / fast:.1f}x); largest difference {np.abs(out - padded).max():.1e}"
            )


if __name__ == "__main__":
    main()
