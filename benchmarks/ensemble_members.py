"""What an ensemble's members bring, from the validation outputs its stage stacks.

Prints each member's validation accuracy, the correlation of the members' log-odds, and
the cross-validated accuracy of the stacking for several regularisation strengths, of each
pair with the first member, and of the plain mean of the log-odds. Validation only: it
reads the `select@` records and prepared labels the ensemble stage reads, never the test
split. `--candidates` adds experiments outside the ensemble (and outside the suite) whose
selection records `rnnlab select experiment=<name>` wrote, to see what they would add.

    python benchmarks/ensemble_members.py imdb_ensemble [--candidates imdb_region_cnn]
"""

from __future__ import annotations

import argparse

import numpy as np

from rnnlab.config.settings import compose_run, load_params, repo_root
from rnnlab.models.stacking import cross_validated_accuracy, log_odds
from rnnlab.pipeline.ensemble import ensemble_spec, member_configs, validation_outputs
from rnnlab.training.experiment import validate_experiment

STRENGTHS = (0.01, 1.0, 10.0)


def member_table(
    names: list[str], probabilities: np.ndarray, odds: np.ndarray, labels: np.ndarray
) -> list[str]:
    correlation = np.corrcoef(odds.T)
    rows = ["| member | val accuracy | " + " | ".join(names) + " |"]
    rows.append("|---" * (len(names) + 2) + "|")
    for i, name in enumerate(names):
        accuracy = ((probabilities[:, i] >= 0.5) == labels).mean()
        cells = " | ".join(f"{c:.2f}" for c in correlation[i])
        rows.append(f"| {name} | {accuracy:.4f} | {cells} |")
    return rows


def stacking_lines(
    names: list[str],
    probabilities: np.ndarray,
    odds: np.ndarray,
    labels: np.ndarray,
    regularization: float,
) -> list[str]:
    lines = [
        f"stacking, C={c:g}: {cross_validated_accuracy(probabilities, labels, c):.4f}"
        for c in STRENGTHS
    ]
    for i in range(1, len(names)):
        pair = cross_validated_accuracy(probabilities[:, [0, i]], labels, regularization)
        lines.append(f"{names[0]} + {names[i]}: {pair:.4f}")
    mean = ((odds.mean(axis=1) > 0) == labels).mean()
    lines.append(f"mean of the log-odds: {mean:.4f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ensemble", help="a key of params.yaml's `ensembles`")
    parser.add_argument(
        "--candidates", nargs="*", default=[], help="experiments (conf/experiment/) to add"
    )
    args = parser.parse_args()
    root = repo_root()
    params = load_params(root)
    spec = ensemble_spec(params.ensembles[args.ensemble], params.experiments)
    members = member_configs(params, spec)
    for name in args.candidates:
        members[name] = validate_experiment(compose_run([f"experiment={name}"], root))
    probabilities, labels = validation_outputs(spec, members, root)
    names, labels = list(members), np.asarray(labels).ravel()
    odds = log_odds(probabilities)
    print("\n".join(member_table(names, probabilities, odds, labels)))
    print("\n".join(stacking_lines(names, probabilities, odds, labels, spec.regularization)))


if __name__ == "__main__":
    main()
