"""Shakespeare's evaluation: nats, bits and perplexity per character on the text's tail,
and a generated sample."""

from __future__ import annotations

import math
from pathlib import Path

import keras
from omegaconf import DictConfig

from rnnlab.data.arrays import to_dataset
from rnnlab.data.splits import Splits
from rnnlab.tasks.shakespeare import TASK
from rnnlab.tasks.shakespeare.generation import CharGenerator

SAMPLE_PROMPT = "ROMEO:"
SAMPLE_LENGTH = 500
SAMPLE_TEMPERATURE = 0.8


def evaluate(model: keras.Model, splits: Splits, out: Path, cfg: DictConfig) -> dict:
    x, y = splits.arrays[TASK.held_out]
    nats = float(
        model.evaluate(to_dataset(x, y, 64, False, 0), verbose=0, return_dict=True)["loss"]
    )
    sample = CharGenerator(model, splits.vocabulary).generate(
        SAMPLE_PROMPT, SAMPLE_LENGTH, SAMPLE_TEMPERATURE, seed=0
    )
    (out / "sample.txt").write_text(sample, encoding="utf-8")
    return {
        "val_loss_nats": nats,
        "val_bits_per_char": nats / math.log(2),
        "val_perplexity": math.exp(nats),
        "val_characters": int(y.size),
    }
