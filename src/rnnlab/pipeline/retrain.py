"""`rnnlab retrain`: what the scheduled workflow runs.

Checks the tracking account, composes params.yaml, checks what the account may do on the
server (before any stage runs), runs the pipeline as `make repro` does
(`rnnlab repro`: the lanes of conf/pipeline.yaml; `--force` is a plain `dvc repro --force`,
since forced lanes would each rerun the data stages they share). Its last stage,
`promote`, moves champions only to better challengers, all or nothing. Then it writes
reports/retrain.md: which stages ran, the metrics diff against the last commit, and each
task's promotion decision. Any failure exits non-zero; since promotion is the pipeline's
last step and rolls back on error, a failed run leaves every champion alias untouched.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from rnnlab.config.settings import resolve_path
from rnnlab.errors import RnnlabError
from rnnlab.io import atomic_file, read_json
from rnnlab.pipeline.compose import compose_params
from rnnlab.tracking import access
from rnnlab.tracking import runs as tracking


class RetrainError(RnnlabError):
    """The pipeline failed during retraining."""


def pipeline_command(force: bool) -> list[str]:
    if force:
        return ["dvc", "repro", "--force"]
    return [sys.executable, "-m", "rnnlab", "repro"]


def run_pipeline(root: Path, force: bool) -> str:
    """Run the pipeline, echoing its output as it comes (a run takes an hour), and return it."""
    cmd = pipeline_command(force)
    process = subprocess.Popen(
        cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    if (code := process.wait()) != 0:
        tail = "".join(lines[-15:]).rstrip()
        raise RetrainError(
            f"`{' '.join(cmd)}` failed (exit {code}); champions are unchanged. Last output:\n{tail}"
        )
    return "".join(lines)


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


def preflight(params, root: Path, kinds: tuple[str, ...] = access.KINDS) -> None:
    """Before DVC starts: the server answers, knows the account, and lets it log the runs
    (kind experiment) and move the champions (registered_model) of every task in the
    pipeline (tracking/access.py)."""
    tasks = [experiment.dataset.task for experiment in params.get("experiments", {}).values()]
    needs = [need for need in access.pipeline_needs(tasks) if need.kind in kinds]
    access.check_access(tracking.tracking_uri(root), needs)


def retrain(overrides: list[str], root: Path, force: bool = False) -> Path:
    access.check_login(tracking.tracking_uri(root))  # a wrong password stops before compose
    params = OmegaConf.load(compose_params(overrides, root))
    preflight(params, root)
    stdout = run_pipeline(root, force)
    ran = re.findall(r"Running stage '([^']+)'", stdout)
    reports = resolve_path(params.paths.reports, root)
    reports.mkdir(parents=True, exist_ok=True)
    return write_report(root, reports, ran)
