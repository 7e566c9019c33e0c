"""Shakespeare's serving model: prompts (column `prompt`) continued character by character by
the stateful `CharGenerator`, with `length`, `temperature` and `seed` as predict params."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from rnnlab.data.model_io import input_column, user_error
from rnnlab.errors import RnnlabError
from rnnlab.io import read_json

INPUT = ("string", "prompt")
OUTPUTS = [("string", "text")]
PARAMS: dict[str, Any] = {"length": 500, "temperature": 0.8, "seed": 0}
VOCABULARY = "vocab.json"  # in the prepared folder


def preprocessing(meta: dict, cfg) -> dict:
    return {}  # the vocabulary is all a prompt needs


class CharSampler(mlflow.pyfunc.PythonModel):
    """Prompt -> the prompt continued character by character (stateful generation)."""

    def load_context(self, context) -> None:
        from rnnlab.models import load_model
        from rnnlab.tasks.shakespeare.generation import CharGenerator

        vocabulary = read_json(Path(context.artifacts["vocabulary"]))
        self.generator = CharGenerator(load_model(context.artifacts["model"]), vocabulary)

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        p = {**PARAMS, **(params or {})}
        try:
            prompts = [str(x) for x in input_column(model_input, INPUT[1])]
            texts = [
                self.generator.generate(
                    prompt, int(p["length"]), float(p["temperature"]), int(p["seed"])
                )
                for prompt in prompts
            ]
        except RnnlabError as exc:
            raise user_error(exc) from exc
        return pd.DataFrame({"text": texts})


WRAPPER = CharSampler
