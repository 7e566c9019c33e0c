"""Champion/challenger promotion in the MLflow model registry.

For each task the challenger is the best evaluated run of the current pipeline; it takes
the `champion` alias only if it beats the champion by more than the task's margin on the
task's main metric, scored on the same held-out data. All decisions are made first and
then applied; if applying fails, aliases already moved are put back, so a failure leaves
every champion as it was.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from omegaconf import DictConfig

from rnnlab.config.settings import resolve_path
from rnnlab.io import atomic_file, write_json
from rnnlab.tasks import Task, get_task
from rnnlab.tracking import runs as tracking
from rnnlab.tracking.latest import latest_runs

log = logging.getLogger(__name__)


@dataclass
class Decision:
    task: str
    model: str
    metric: str
    challenger_run: str
    challenger_experiment: str
    challenger_version: int
    challenger_value: float
    champion_version: int | None
    champion_value: float | None
    # The champion before the decision (run and experiment): with `promoted`, this says
    # which model holds the alias after it, for a clone without the registry.
    champion_run: str | None
    champion_experiment: str | None
    margin: float
    promoted: bool
    reason: str


def current_champion(client: MlflowClient, model: str, alias: str):
    try:
        return client.get_model_version_by_alias(model, alias)
    except MlflowException:
        return None


def challengers(runs: pd.DataFrame) -> dict[str, pd.Series]:
    """Best evaluated, registered run per task."""
    best = {}
    for name, group in runs.groupby("tags.task"):
        task = get_task(name)
        metric = task.main_metric
        group = group.dropna(subset=[f"metrics.{metric}", "tags.registry.version"])
        if not group.empty:
            ascending = not task.higher_is_better
            best[name] = group.sort_values(f"metrics.{metric}", ascending=ascending).iloc[0]
    return best


def decide(client: MlflowClient, task: str, run: pd.Series, margin: float, alias: str) -> Decision:
    metric = get_task(task).main_metric
    model = get_task(task).registered_model
    value = float(run[f"metrics.{metric}"])
    champion = current_champion(client, model, alias)
    base = {
        "task": task,
        "model": model,
        "metric": metric,
        "challenger_run": run["run_id"],
        "challenger_experiment": run["tags.mlflow.runName"],
        "challenger_version": int(run["tags.registry.version"]),
        "challenger_value": value,
        "margin": margin,
    }
    if champion is None:
        return Decision(
            **base,
            champion_version=None,
            champion_value=None,
            champion_run=None,
            champion_experiment=None,
            promoted=True,
            reason="no champion yet",
        )
    held = client.get_run(champion.run_id)
    champion_value = held.data.metrics.get(metric)
    base |= {"champion_run": champion.run_id, "champion_experiment": held.info.run_name}
    if int(champion.version) == base["challenger_version"]:
        return Decision(
            **base,
            champion_version=int(champion.version),
            champion_value=champion_value,
            promoted=False,
            reason="already the champion",
        )
    if held.data.tags.get("eval.data") != run.get("tags.eval.data"):
        return Decision(
            **base,
            champion_version=int(champion.version),
            champion_value=champion_value,
            promoted=False,
            reason="champion was scored on different held-out data",
        )
    promoted = should_promote(get_task(task), value, champion_value, margin)
    verdict = "beats" if promoted else "does not beat"
    return Decision(
        **base,
        champion_version=int(champion.version),
        champion_value=champion_value,
        promoted=promoted,
        reason=f"{verdict} the champion by more than {margin} on {metric}",
    )


def should_promote(task: Task, challenger: float, champion: float | None, margin: float) -> bool:
    """True when the challenger beats the champion by more than `margin`."""
    return champion is None or task.better(challenger, champion) > margin


def apply(client: MlflowClient, decisions: list[Decision], alias: str) -> None:
    moved: list[Decision] = []
    try:
        for decision in decisions:
            if decision.promoted:
                client.set_registered_model_alias(
                    decision.model, alias, decision.challenger_version
                )
                moved.append(decision)
    except Exception:
        for decision in moved:  # put every alias back as it was
            if decision.champion_version is None:
                client.delete_registered_model_alias(decision.model, alias)
            else:
                client.set_registered_model_alias(decision.model, alias, decision.champion_version)
        raise


def report(decisions: list[Decision]) -> str:
    lines = [
        "# Champion / challenger",
        "",
        "| task | challenger | value | champion | value | margin | result | why |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in decisions:
        champion = "-" if d.champion_version is None else f"v{d.champion_version}"
        champion_value = "-" if d.champion_value is None else f"{d.champion_value:.6g}"
        result = "promoted" if d.promoted else "kept champion"
        lines.append(
            f"| {d.task} | {d.challenger_experiment} (v{d.challenger_version}) | "
            f"{d.challenger_value:.6g} | {champion} | {champion_value} | {d.margin} | "
            f"{result} | {d.reason} |"
        )
    return "\n".join(lines) + "\n"


def promote(params: DictConfig, root: Path) -> list[Decision]:
    tracking.connect(root)
    client = MlflowClient()
    runs = latest_runs(params)
    alias = params.registry.alias
    decisions = (
        [
            decide(client, task, run, float(params.registry.margin.get(task, 0.0)), alias)
            for task, run in sorted(challengers(runs).items())
        ]
        if not runs.empty
        else []
    )
    apply(client, decisions, alias)
    out = resolve_path(params.paths.reports, root)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "promotion.json", [asdict(d) for d in decisions])
    with atomic_file(out / "promotion.md") as tmp:
        tmp.write_text(report(decisions), encoding="utf-8")
    for d in decisions:
        log.info("%s: %s (%s)", d.task, "promoted" if d.promoted else "kept", d.reason)
    return decisions
