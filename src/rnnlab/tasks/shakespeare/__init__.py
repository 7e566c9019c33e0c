"""Character-level language model on tiny Shakespeare: next character from the previous ones.

Scored on the last `val_fraction` of the text (nanoGPT's split): the task has no test split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab.tasks.base import Task

VOCABULARY_FILE = "vocab.json"


@dataclass(frozen=True)
class ShakespeareTask(Task):
    def loss_and_metrics(self) -> tuple[Any, list]:
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), []

    def held_out_id(self, dataset: Any) -> str:
        return f"shakespeare/tail{dataset.val_fraction}/blocks{dataset.val_seq_len}"

    def vocabulary(self, folder: Path) -> list[str]:
        return json.loads((folder / VOCABULARY_FILE).read_text(encoding="utf-8"))


TASK = ShakespeareTask(
    name="shakespeare",
    title="Shakespeare character LM (validation nats/char, lower is better)",
    problem="char_lm",
    mlflow_experiment="shakespeare-char-lm",
    registered_model="rnnlab-shakespeare",
    main_metric="val_loss_nats",
    validation_metric="val_loss",
    higher_is_better=False,
    splits=("train", "val"),
    source="shakespeare",
    refit_forbidden=(
        "trainer.refit=true would train on the validation text that Shakespeare's "
        "evaluation scores (it has no test split); set trainer.refit=false"
    ),
)
