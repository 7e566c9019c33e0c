"""`rnnlab retrain`: what the scheduled workflow runs.

Composes params.yaml, checks the tracking server, runs `dvc repro` (whose last stage,
`promote`, moves champions only to better challengers, all or nothing), then writes
reports/retrain.md: which stages ran, the metrics diff against the last commit, and each
task's promotion decision. Any failure exits non-zero; since promotion is the pipeline's
last step and rolls back on error, a failed run leaves every champion alias untouched.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from omegaconf import OmegaConf

from rnnlab import tracking
from rnnlab.compose import compose_params
from rnnlab.errors import RnnlabError
from rnnlab.io import atomic_file, read_json
from rnnlab.settings import resolve_path


class RetrainError(RnnlabError):
    """The pipeline failed during retraining."""


def run_pipeline(root: Path, force: bool) -> str:
    cmd = ["dvc", "repro", *(["--force"] if force else [])]
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    print(result.stdout, end="")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise RetrainError(
            f"`{' '.join(cmd)}` failed (exit {result.returncode}); champions are "
            f"unchanged. Last output:\n{tail}"
        )
    return result.stdout


def metrics_diff(root: Path) -> str:
    result = subprocess.run(
        ["dvc", "metrics", "diff", "HEAD", "--md"], cwd=root, capture_output=True, text=True
    )
    return (
        result.stdout.strip()
        if result.returncode == 0 and result.stdout.strip()
        else "no metric changed"
    )


def promotion_table(reports: Path, ran: list[str]) -> str:
    if "promote" not in ran:
        return "No stage changed, so no new challenger: every champion is kept."
    return (reports / "promotion.md").read_text(encoding="utf-8").split("\n", 2)[2]


def write_report(root: Path, reports: Path, ran: list[str]) -> Path:
    decisions = read_json(reports / "promotion.json") if "promote" in ran else []
    promoted = [d["task"] for d in decisions if d["promoted"]]
    lines = [
        "# Retraining report",
        "",
        f"Stages run: {', '.join(ran) if ran else 'none (everything up to date)'}.",
        "",
        f"Champions promoted: {', '.join(promoted) if promoted else 'none'}.",
        "",
        "## Promotion",
        "",
        promotion_table(reports, ran),
        "",
        "## Metrics diff against HEAD",
        "",
        metrics_diff(root),
        "",
    ]
    path = reports / "retrain.md"
    with atomic_file(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return path


def retrain(overrides: list[str], root: Path, force: bool = False) -> Path:
    tracking.check_reachable(tracking.tracking_uri(root))
    params = OmegaConf.load(compose_params(overrides, root))
    stdout = run_pipeline(root, force)
    ran = re.findall(r"Running stage '([^']+)'", stdout)
    reports = resolve_path(params.paths.reports, root)
    reports.mkdir(parents=True, exist_ok=True)
    return write_report(root, reports, ran)
