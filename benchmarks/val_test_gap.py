"""Validation vs test accuracy of the IMDB experiments, for one or more git revisions.

For each revision, reads the committed DVC outputs (`plots/<experiment>/history.csv`,
`metrics/<experiment>.json`, `params.yaml`) with `git show`, so two pipeline runs can be
compared without checking either out:

    .venv/bin/python benchmarks/val_test_gap.py 0f5a36a HEAD

"val" is the validation accuracy at the epoch with the lowest validation loss (the weights
early stopping restores); "gap" is val - test, in accuracy points.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess

import pandas as pd
import yaml


def show(rev: str, path: str) -> str | None:
    result = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def val_split(dataset: dict) -> str:
    block = dataset.get("val_block_size", 0)
    return f"id blocks of {block}" if block else "random"


def rows(rev: str) -> list[dict]:
    params = yaml.safe_load(show(rev, "params.yaml") or "{}")
    found = []
    for name, experiment in params.get("experiments", {}).items():
        history, metrics = show(rev, f"plots/{name}/history.csv"), show(rev, f"metrics/{name}.json")
        if experiment["dataset"]["task"] != "imdb" or history is None or metrics is None:
            continue
        epochs = pd.read_csv(io.StringIO(history))
        best = epochs.loc[epochs["val_loss"].idxmin()]
        test = json.loads(metrics)["test_accuracy"]
        found.append(
            {
                "rev": rev,
                "experiment": name,
                "val split": val_split(experiment["dataset"]),
                "val": round(float(best["val_accuracy"]), 4),
                "test": round(test, 4),
                "gap": round(100 * (float(best["val_accuracy"]) - test), 1),
            }
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs="+", help="git revisions holding pipeline outputs")
    table = pd.DataFrame([row for rev in parser.parse_args().revs for row in rows(rev)])
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
