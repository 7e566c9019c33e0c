"""`rnnlab forecast`: continue the sine curve with a sine model, as a table and a plot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rnnlab.errors import ConfigError
from rnnlab.tasks.base import UseCommand

if TYPE_CHECKING:
    import pandas as pd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=float, default=0.0, help="x where the window starts")
    parser.add_argument("--steps", type=int, default=200, help="values to forecast")
    parser.add_argument("--plot", type=Path, default=Path("forecast.png"), help="PNG to write")
    parser.add_argument("--output", choices=("table", "jsonl"), default="table")


def run(args: argparse.Namespace, model) -> str:
    from rnnlab.data.model_io import render

    table = forecast(model, args.start, args.steps, args.plot)
    if args.plot:
        print(f"plot written to {args.plot}", file=sys.stderr)
    return render(table, args.output)


def forecast(model, start: float, steps: int, plot: Path | None) -> pd.DataFrame:
    if steps <= 0:
        raise ConfigError(f"--steps must be a positive integer, got {steps}")
    import pandas as pd

    from rnnlab.data.model_io import call_model

    table = call_model(model, pd.DataFrame({"start": [float(start)]}), params={"steps": steps})
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        forecast_plot(table, plot, f"sine forecast from x={start:g}, {steps} steps")
    return table


def forecast_plot(table: pd.DataFrame, path: Path, title: str) -> None:
    from rnnlab.plots import plt, save

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(table["x"], table["true"], label="sin(x)", linewidth=2)
    ax.plot(table["x"], table["forecast"], "--", label="forecast (own outputs fed back)")
    ax.set_xlabel("x")
    ax.set_title(title)
    ax.legend()
    save(fig, path)


COMMAND = UseCommand("forecast", "continue the sine curve with a sine model", add_arguments, run)
