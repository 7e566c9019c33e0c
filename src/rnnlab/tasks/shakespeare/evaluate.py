"""Shakespeare's evaluation: nats, bits and perplexity per character on the text's tail,
and a generated sample."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from omegaconf import DictConfig
from scipy.special import log_softmax

from rnnlab.data.splits import Splits
from rnnlab.tasks.evaluation import EvaluationResult
from rnnlab.tasks.shakespeare import TASK
from rnnlab.tasks.shakespeare.generation import CharGenerator

SAMPLE_PROMPT = "ROMEO:"
SAMPLE_LENGTH = 500
SAMPLE_TEMPERATURE = 0.8
EVAL_BATCH = 64


def evaluate(model: keras.Model, splits: Splits, out: Path, cfg: DictConfig) -> EvaluationResult:
    """Each row is one character of the scored blocks, in text order: its target is the
    character's id, its output the probability the model gave it."""
    x, y = splits.arrays[TASK.held_out]
    nats = character_nats(model, x, y)
    mean = float(nats.mean())
    sample = CharGenerator(model, splits.vocabulary).generate(
        SAMPLE_PROMPT, SAMPLE_LENGTH, SAMPLE_TEMPERATURE, seed=0
    )
    (out / "sample.txt").write_text(sample, encoding="utf-8")
    metrics = {
        "val_loss_nats": mean,
        "val_bits_per_char": mean / math.log(2),
        "val_perplexity": math.exp(mean),
        "val_characters": int(y.size),
    }
    return EvaluationResult(metrics, pd.DataFrame({"target": y.ravel(), "output": np.exp(-nats)}))


def character_nats(model: keras.Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-ln P(true next character) at every position of every block, flattened in text
    order: the model's training loss, per character. Float64, so the mean does not drift."""
    logits = model.predict(x, batch_size=EVAL_BATCH, verbose=0).astype(np.float64)
    log_probs = log_softmax(logits, axis=-1)
    return -np.take_along_axis(log_probs, y[..., None].astype(np.int64), axis=-1).ravel()
