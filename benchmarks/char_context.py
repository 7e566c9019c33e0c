"""Validation loss of a trained character model over blocks of several lengths.

A non-stateful character model predicts each position from the characters before it in
its block, so the mean loss over a block depends on the block length: the first positions
see almost no context. nanoGPT's published 1.4697 nats/char averages over blocks of 256.
This scores one trained model on the validation text cut into blocks of each length.

    python benchmarks/char_context.py models/shakespeare_char_gru/model.keras \\
        data/prepared/shakespeare_seq100_val0.1_valseq256 --blocks 100 256 512
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np

from rnnlab.io import load_array
from rnnlab.tasks.shakespeare.prepare import windows


def validation_ids(folder: Path) -> np.ndarray:
    """The validation text's ids, rebuilt from its (input, target shifted by one) blocks."""
    x, y = load_array(folder, "x_val"), load_array(folder, "y_val")
    return np.concatenate([x, y[:, -1:]], axis=1).ravel()


def mean_loss(model: keras.Model, ids: np.ndarray, block: int) -> tuple[float, int]:
    x, y = windows(ids, block)
    logits = model.predict(x, batch_size=64, verbose=0)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return float(loss(y, logits)), int(x.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a trained char model (model.keras)")
    parser.add_argument("prepared", type=Path, help="its prepared Shakespeare folder")
    parser.add_argument("--blocks", type=int, nargs="+", default=[100, 256, 512])
    args = parser.parse_args()
    model = keras.models.load_model(args.model)
    ids = validation_ids(args.prepared)
    print("| block length | characters scored | val loss (nats/char) |\n|---|---|---|")
    for block in args.blocks:
        loss, scored = mean_loss(model, ids, block)
        print(f"| {block} | {scored:,} | {loss:.4f} |")


if __name__ == "__main__":
    main()
