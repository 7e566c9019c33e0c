"""`rnnlab generate`: continue a prompt with a character model."""

from __future__ import annotations

import argparse

from rnnlab.errors import ConfigError
from rnnlab.tasks.base import UseCommand


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", default="ROMEO:")
    parser.add_argument("--length", type=int, default=500, help="characters to add")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace, model) -> str:
    return generate(model, args.prompt, args.length, args.temperature, args.seed) + "\n"


def generate(model, prompt: str, length: int, temperature: float, seed: int) -> str:
    import pandas as pd

    from rnnlab.data.model_io import call_model

    if length < 0:
        raise ConfigError(f"--length must be >= 0, got {length}")
    if temperature <= 0:
        raise ConfigError(f"--temperature must be > 0, got {temperature}")
    frame = call_model(
        model,
        pd.DataFrame({"prompt": [prompt]}),
        params={"length": length, "temperature": temperature, "seed": seed},
    )
    return str(frame["text"].iloc[0])


COMMAND = UseCommand("generate", "continue a prompt with a character model", add_arguments, run)
