"""Share of IMDB reviews a trained model calls positive, on training and on test reviews.

A model that is calibrated on the reviews it trained on but calls fewer test reviews
positive than there are has learnt evidence that does not carry over to other movies (a
dropout train/inference mismatch would show on the training reviews too). Diagnostic only:
nothing is tuned on the test figures it prints.

    python benchmarks/prediction_skew.py models/imdb_bilstm/model.keras \\
        data/prepared/imdb_v30000_len500_read1000_postpre_val0.2_blocks500_w2v100e20 --sample 4000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
import sklearn.metrics as skm

from rnnlab.data.arrays import example_outputs
from rnnlab.io import load_array
from rnnlab.models import load_model
from rnnlab.tasks.imdb import predicted_labels

SPLITS = ("train", "test")


def skew_row(model: keras.Model, folder: Path, split: str, sample: int, seed: int) -> str:
    x, y = load_array(folder, f"x_{split}"), load_array(folder, f"y_{split}").ravel()
    pick = np.random.default_rng(seed).choice(len(x), min(sample, len(x)), replace=False)
    # Scored and thresholded as the evaluate stage does (padded batches give the same outputs).
    pred = predicted_labels(example_outputs(model, x[pick], padding=None))
    (tn, fp), (fn, tp) = skm.confusion_matrix(y[pick], pred, labels=[0, 1])
    return (
        f"| {split} | {len(pick):,} | {pred.mean():.3f} | {y[pick].mean():.3f} "
        f"| {fp:,} | {fn:,} | {(tn + tp) / len(pick):.4f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a trained IMDB model (model.keras)")
    parser.add_argument("prepared", type=Path, help="its prepared IMDB folder")
    parser.add_argument("--sample", type=int, default=4000, help="random reviews per split")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = load_model(args.model)
    print(
        "| split | reviews | predicted positive | truly positive | false positives "
        "| false negatives | accuracy |\n|---|---|---|---|---|---|---|"
    )
    for split in SPLITS:
        print(skew_row(model, args.prepared, split, args.sample, args.seed))


if __name__ == "__main__":
    main()
