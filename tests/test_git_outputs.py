"""`rnnlab git-outputs`: what a retraining commits, read from DVC's index of the pipeline."""

from __future__ import annotations

from pathlib import Path

from .conftest import RNNLAB, run


def test_lists_every_existing_file_dvc_keeps_in_git_and_nothing_cached(project: Path) -> None:
    kept = [
        "selection/imdb_gru.json",
        "plots/imdb_gru/history.csv",
        "metrics/imdb_gru.json",
        "reports/promotion.json",
        "reports/leaderboard.md",
    ]
    cached = ["models/imdb_gru/model.keras", "plots/imdb_gru/learning_curves.png"]
    for name in kept + cached:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    (project / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    listed = run([RNNLAB, "git-outputs"], project).stdout.split()
    assert listed == sorted([*kept, "dvc.lock", "params.yaml"])
