"""What an ensemble's members bring, from the validation outputs its stage stacks.

Prints each member's validation accuracy, the correlation of the members' log-odds, and
the cross-validated accuracy of the stacking for several regularisation strengths, of each
pair with the first member, and of the plain mean of the log-odds. Validation only: it
reads the `select@` records and prepared labels the ensemble stage reads, never the test
split.

    python benchmarks/ensemble_members.py imdb_ensemble
"""

from __future__ import annotations

import argparse

import numpy as np
from omegaconf import OmegaConf

from rnnlab.config.settings import repo_root, with_locations
from rnnlab.models.stacking import cross_validated_accuracy, log_odds
from rnnlab.pipeline.ensemble import ensemble_spec, validation_outputs
from rnnlab.training.experiment import validate_experiment

STRENGTHS = (0.01, 1.0, 10.0)


def member_table(names: list[str], probabilities: np.ndarray, labels: np.ndarray) -> list[str]:
    correlation = np.corrcoef(log_odds(probabilities).T)
    rows = ["| member | val accuracy | " + " | ".join(names) + " |"]
    rows.append("|---" * (len(names) + 2) + "|")
    for i, name in enumerate(names):
        accuracy = ((probabilities[:, i] >= 0.5) == labels).mean()
        cells = " | ".join(f"{c:.2f}" for c in correlation[i])
        rows.append(f"| {name} | {accuracy:.4f} | {cells} |")
    return rows


def stacking_lines(
    names: list[str], probabilities: np.ndarray, labels: np.ndarray, regularization: float
) -> list[str]:
    lines = [
        f"stacking, C={c:g}: {cross_validated_accuracy(probabilities, labels, c):.4f}"
        for c in STRENGTHS
    ]
    for i in range(1, len(names)):
        pair = cross_validated_accuracy(probabilities[:, [0, i]], labels, regularization)
        lines.append(f"{names[0]} + {names[i]}: {pair:.4f}")
    mean = ((log_odds(probabilities).mean(axis=1) > 0) == labels).mean()
    lines.append(f"mean of the log-odds: {mean:.4f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ensemble", help="a key of params.yaml's `ensembles`")
    args = parser.parse_args()
    root = repo_root()
    params = OmegaConf.load(root / "params.yaml")
    spec = ensemble_spec(params.ensembles[args.ensemble], params.experiments)
    members = {
        name: validate_experiment(with_locations(params, params.experiments[name]))
        for name in spec.members
    }
    probabilities, labels = validation_outputs(spec, members, root)
    names, labels = list(members), np.asarray(labels).ravel()
    print("\n".join(member_table(names, probabilities, labels)))
    print("\n".join(stacking_lines(names, probabilities, labels, spec.regularization)))


if __name__ == "__main__":
    main()
