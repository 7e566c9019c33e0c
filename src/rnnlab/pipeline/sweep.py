"""`rnnlab train -m ...`: Hydra multirun sweeps with Hydra's own launchers and sweepers.

    rnnlab train -m experiment=imdb_lstm trainer.learning_rate=1e-3,3e-3 hydra/launcher=joblib
    rnnlab train -m experiment=imdb_lstm hparams_search=imdb_lstm_optuna

Hydra expands the overrides into jobs and hands them to the configured launcher (basic,
joblib, submitit SLURM) or sweeper (Optuna). Each job is one training of conf/config.yaml
with its overrides, written to the job's Hydra output folder (never to the pipeline's
DVC outputs) and logged as an MLflow run nested under one parent run of the sweep. The job
returns its best validation figure, which is what the Optuna sweeper optimises.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mlflow
from omegaconf import DictConfig, OmegaConf

from rnnlab.config.settings import CONFIG_DIR_NAME, RUN_CONFIG, compose_run
from rnnlab.tasks import get_task
from rnnlab.tracking import runs as tracking

JOB_OUTPUTS = ("selection", "models", "serving", "checkpoints", "metrics", "predictions", "plots")


def job_config(cfg: DictConfig, output_dir: Path, job_num: int) -> DictConfig:
    """The job's run config: its own output folders and a run name that says which job."""
    own = {"paths": {k: str(output_dir / k) for k in JOB_OUTPUTS}}
    job = OmegaConf.merge(cfg, own)
    job.name = f"{cfg.name}-job{job_num}"
    return job


def run_job(cfg: DictConfig, root: Path) -> float:
    from hydra.core.hydra_config import HydraConfig

    from rnnlab.pipeline.select import run_select
    from rnnlab.pipeline.train import train
    from rnnlab.training.experiment import validate_experiment

    hydra_cfg = HydraConfig.get()
    cfg = validate_experiment(
        job_config(cfg, Path(hydra_cfg.runtime.output_dir), hydra_cfg.job.num)
    )
    # A sweep is judged on validation: the select stage's run for a refitting experiment,
    # else the fit's own validation epochs.
    selection = run_select(cfg, root)
    result = train(cfg, root, selection)
    history = selection.history_frame() if selection.refit else result["history"]
    task = get_task(cfg.dataset.task)
    key = task.validation_metric
    scores = history[key]
    value = float(scores.max() if task.higher_is_better else scores.min())
    tracking.connect(root)
    with mlflow.start_run(run_id=result["run_id"]):
        mlflow.log_metric(f"best_{key}", value)
    return value


def base_overrides(overrides: list[str]) -> list[str]:
    """The overrides without sweeps and Hydra's own settings: what every job shares."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        o.input_line
        for o in parsed
        if not o.is_sweep_override() and not o.key_or_group.startswith(("hydra", "hparams_search"))
    ]


def start_parent_run(overrides: list[str], root: Path) -> str:
    cfg = compose_run(base_overrides(overrides), root)
    tracking.connect(root)
    experiment_id = tracking.task_experiment(cfg.dataset.task, root)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"sweep {cfg.name}") as run:
        mlflow.set_tags(
            {"sweep.overrides": " ".join(overrides), "task": cfg.dataset.task, "sweep": "true"}
        )
        return run.info.run_id


def multirun(overrides: list[str], root: Path) -> None:
    import hydra

    parent = start_parent_run(overrides, root)
    os.environ[tracking.PARENT_RUN_ENV] = parent  # launcher workers inherit it
    app = hydra.main(
        config_path=str(root / CONFIG_DIR_NAME), config_name=RUN_CONFIG, version_base="1.3"
    )(lambda cfg: run_job(cfg, root))
    argv = sys.argv
    sys.argv = ["rnnlab train", "--multirun", *overrides]
    try:
        app()
    finally:
        sys.argv = argv
        os.environ.pop(tracking.PARENT_RUN_ENV, None)
        tracking.connect(root)
        mlflow.MlflowClient().set_terminated(parent)
    print(f"sweep logged under MLflow parent run {parent}")
