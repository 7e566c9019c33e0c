"""compare: read the pipeline's MLflow runs into pandas and write the leaderboard.

reports/leaderboard.{md,csv,png}, grouped by task, each seed's published figure beside ours.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from rnnlab.config.settings import resolve_path
from rnnlab.io import atomic_file
from rnnlab.models.registry import model_label
from rnnlab.tasks import get_task
from rnnlab.tracking import runs as tracking
from rnnlab.tracking.latest import latest_runs


def model_params(run: pd.Series) -> dict[str, str]:
    """The `model.*` params the run logged, without the prefix (unlogged ones are NaN)."""
    prefix = "params.model."
    logged = {k.removeprefix(prefix): v for k, v in run.items() if k.startswith(prefix)}
    return {k: v for k, v in logged.items() if isinstance(v, str)}


def leaderboard(runs: pd.DataFrame, anchors: DictConfig) -> pd.DataFrame:
    rows = []
    for _, run in runs.iterrows():
        task = get_task(run["tags.task"])
        metric = task.main_metric
        name = run["tags.mlflow.runName"]
        anchor = anchors.get(name, {}) or {}
        ours, target = run[f"metrics.{metric}"], anchor.get("target")
        rows.append(
            {
                "task": task.name,
                "experiment": name,
                "model": model_label(model_params(run)),
                "metric": metric,
                "ours": ours,
                "published": anchor.get("published"),
                "published_source": anchor.get("source", ""),
                "target": target,
                "meets_target": None if target is None else task.meets(ours, target),
                "epochs": run.get("metrics.epochs_trained"),
                "refit_epochs": run.get("metrics.refit_epochs"),
                "train_seconds": run.get("metrics.train_seconds"),
                "run_id": run["run_id"],
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    pairs = zip(table["task"], table["ours"], strict=True)
    table["_key"] = [get_task(task).sort_key(value) for task, value in pairs]
    return table.sort_values(["task", "_key"]).drop(columns="_key")


def fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def epochs_label(row: pd.Series) -> str:
    """Epochs of the validation run, plus those of the refit on train+val if there was one."""
    refit = row.get("refit_epochs")
    if refit is None or pd.isna(refit):
        return fmt(row["epochs"], 0)
    return f"{fmt(row['epochs'], 0)} + {fmt(refit, 0)} refit"


def to_markdown(table: pd.DataFrame) -> str:
    lines = [
        "# Leaderboard",
        "",
        "Written by `dvc repro compare` from the MLflow runs; "
        "published figures from ../shared/docs/anchors.md.",
        "",
    ]
    for name, group in table.groupby("task", sort=True):
        task = get_task(name)
        digits = task.metric_digits
        lines += [
            f"## {task.title}",
            "",
            "| experiment | model | ours | published | source | target | met | epochs | train s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for _, r in group.iterrows():
            met = {True: "yes", False: "no"}.get(r["meets_target"], "-")
            lines.append(
                f"| {r['experiment']} | {r['model']} | {fmt(r['ours'], digits)} | "
                f"{fmt(r['published'], digits)} | {r['published_source']} | "
                f"{fmt(r['target'], digits)} | {met} | {epochs_label(r)} | "
                f"{fmt(r['train_seconds'], 0)} |"
            )
        lines.append("")
    return "\n".join(lines)


def chart(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted(table["task"].unique())
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(6 * len(tasks), 0.45 * len(table) + 2.5), squeeze=False
    )
    for ax, task in zip(axes[0], tasks, strict=True):
        group = table[table["task"] == task]
        y = range(len(group))
        ax.barh([i + 0.2 for i in y], group["ours"], height=0.4, label="ours")
        ax.barh([i - 0.2 for i in y], group["published"].fillna(0), height=0.4, label="published")
        ax.set_yticks(list(y), group["experiment"])
        ax.invert_yaxis()
        ax.set_title(get_task(task).title, fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def compare(params: DictConfig, root: Path) -> pd.DataFrame:
    tracking.connect(root)
    table = leaderboard(latest_runs(params), params.anchors)
    out = resolve_path(params.paths.reports, root)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "leaderboard.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_file(out / "leaderboard.md") as tmp:
        tmp.write_text(to_markdown(table), encoding="utf-8")
    if not table.empty:
        chart(table, out / "leaderboard.png")
    return table
