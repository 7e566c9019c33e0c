"""The pipeline's latest evaluated MLflow run of each experiment and ensemble: the rows of
the leaderboard (compare) and the candidates for champion (promote)."""

from __future__ import annotations

import mlflow
import pandas as pd
from omegaconf import DictConfig

from rnnlab.tasks import get_task


def latest_runs(params: DictConfig) -> pd.DataFrame:
    """The most recent evaluated run of each pipeline experiment and ensemble."""
    experiment_names = [*params.experiments, *params.get("ensembles", {})]
    tasks = {get_task(e.dataset.task).mlflow_experiment for e in params.experiments.values()}
    runs = mlflow.search_runs(
        experiment_names=sorted(tasks),
        order_by=["attributes.start_time DESC"],
    )
    if runs.empty:
        return runs
    runs = runs[runs["tags.mlflow.runName"].isin(experiment_names)]
    runs = (
        runs[runs["tags.dvc.evaluate_stage"].notna()]
        if "tags.dvc.evaluate_stage" in runs
        else runs.iloc[:0]
    )
    return runs.drop_duplicates("tags.mlflow.runName", keep="first")
