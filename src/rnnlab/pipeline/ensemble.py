"""The ensemble stage: one model from several experiments of a task, weighted on validation.

An ensemble (conf/ensemble/, `ensembles.<name>` in params.yaml) names refitting experiments
of one task. Their select stages recorded each validation example's probability under the
chosen epoch (selection/<member>.json); a logistic regression on those log-odds
(rnnlab.models.stacking) gives each member its weight, so neither the refit models (which
trained on the validation split) nor the test split ever shape the weights. The stacking
then scores the outputs the members' evaluate stages wrote on the held-out split
(predictions/<member>.csv), exactly as each of them alone, without running them again.

The stage logs its own MLflow run (named after the ensemble, with its members' runs in its
tags), writes serving/<name> (one pyfunc that takes raw inputs and runs every member) and
registers it under the task's model, so `compare` ranks it and `promote` may make it the
champion by the same rule as any experiment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path

import mlflow
import numpy as np
from omegaconf import DictConfig, OmegaConf

from rnnlab.config.settings import experiment_paths, resolve_path, with_locations
from rnnlab.data.predictions import PREDICTIONS_ARTIFACT, read_predictions, write_predictions
from rnnlab.data.splits import input_layout
from rnnlab.errors import ConfigError, DataError
from rnnlab.io import atomic_dir, read_json, write_json
from rnnlab.models.stacking import Stacking, cross_validated_accuracy, fit_stacking
from rnnlab.serving.package import Member, save_ensemble_and_log
from rnnlab.tasks import Task, get_task, load_prepared
from rnnlab.tracking import runs as tracking
from rnnlab.training.experiment import validate_experiment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsembleSpec:
    """One ensemble's settings (conf/ensemble/<name>.yaml)."""

    name: str
    task: str
    members: tuple[str, ...]
    regularization: float = 1.0  # inverse L2 strength of the stacking (scikit-learn's C)


def ensemble_spec(section: DictConfig, experiments: DictConfig) -> EnsembleSpec:
    """The checked settings: at least two refitting members of the ensemble's task, each an
    experiment of this pipeline, and a task that can serve an ensemble."""
    settings = OmegaConf.to_container(section)
    unknown = sorted(set(settings) - {f.name for f in fields(EnsembleSpec)})
    if unknown:
        raise ConfigError(
            f"ensemble {section.get('name')!r}: unknown settings {unknown}; "
            f"known: {[f.name for f in fields(EnsembleSpec)]}"
        )
    spec = EnsembleSpec(**{**settings, "members": tuple(settings.get("members") or ())})
    task = get_task(spec.task)
    if not hasattr(task.role("serve"), "ENSEMBLE_WRAPPER"):
        raise ConfigError(f"ensemble {spec.name!r}: the {task.name} task has no ensemble model")
    if len(set(spec.members)) < 2:
        raise ConfigError(f"ensemble {spec.name!r}: name at least two different members")
    for member in spec.members:
        check_member(spec, member, experiments)
    return spec


def check_member(spec: EnsembleSpec, member: str, experiments: DictConfig) -> None:
    if member not in experiments:
        raise ConfigError(
            f"ensemble {spec.name!r}: member {member!r} is not an experiment of this suite "
            f"({sorted(experiments)}); add it to the suite or remove it from the members"
        )
    cfg = experiments[member]
    if cfg.dataset.task != spec.task:
        raise ConfigError(
            f"ensemble {spec.name!r} is for the {spec.task} task, but member {member!r} is a "
            f"{cfg.dataset.task} experiment"
        )
    if not cfg.trainer.refit:
        raise ConfigError(
            f"ensemble {spec.name!r}: member {member!r} does not refit (trainer.refit=false), so "
            "no validation run records its validation outputs; set trainer.refit=true for it"
        )


def validation_outputs(spec: EnsembleSpec, members: dict[str, DictConfig], root: Path):
    """(validation examples, members) probabilities from the selection records, and the
    labels, which every member must share (one validation split)."""
    columns, labels = [], None
    for name, cfg in members.items():
        paths = experiment_paths(cfg, root)
        outputs = read_json(paths["selection"]).get("validation_outputs") or []
        y = load_prepared(paths["data"], input_layout(cfg)).arrays["val"][1]
        if len(outputs) != len(y):
            raise DataError(
                f"ensemble {spec.name!r}: {paths['selection']} has {len(outputs)} validation "
                f"outputs for {len(y)} validation examples; re-run its select stage "
                f"(dvc repro --force select@{name})"
            )
        if labels is not None and not np.array_equal(labels, y):
            raise DataError(
                f"ensemble {spec.name!r}: member {name!r} was validated on other examples than "
                f"{next(iter(members))!r}; give the members' datasets the same split settings "
                "(split_seed, val_fraction, val_block_size)"
            )
        columns.append(outputs)
        labels = y
    return np.column_stack(columns), labels


def held_out_outputs(spec: EnsembleSpec, members: dict[str, DictConfig], root: Path):
    """(held-out examples, members) probabilities the members' evaluate stages wrote, and
    the labels, which every member must share (one held-out split)."""
    columns, labels = [], None
    for name, cfg in members.items():
        path = experiment_paths(cfg, root)["predictions"]
        if not path.is_file():
            raise DataError(
                f"ensemble {spec.name!r}: member {name!r} has no held-out predictions "
                f"({path}); run its evaluate stage first (dvc repro evaluate@{name})"
            )
        predictions = read_predictions(path)
        if labels is not None and not np.array_equal(labels, predictions["target"]):
            raise DataError(
                f"ensemble {spec.name!r}: member {name!r} was scored on other examples than "
                f"{next(iter(members))!r} ({path}); re-run both evaluate stages "
                f"(dvc repro evaluate@{name} evaluate@{next(iter(members))})"
            )
        columns.append(predictions["output"].to_numpy())
        labels = predictions["target"].to_numpy()
    return np.column_stack(columns), labels


def held_out_id(spec: EnsembleSpec, members: dict[str, DictConfig]) -> str:
    ids = {tracking.eval_data_id(cfg) for cfg in members.values()}
    if len(ids) != 1:
        raise ConfigError(
            f"ensemble {spec.name!r}: its members are scored on different held-out data "
            f"({sorted(ids)}); they must share one evaluation (e.g. the same profile)"
        )
    return ids.pop()


def run_tags(spec: EnsembleSpec, members: dict[str, DictConfig], root: Path, eval_id: str):
    member_runs = {
        name: tracking.read_run_file(experiment_paths(cfg, root)["model_dir"])["run_id"]
        for name, cfg in members.items()
    }
    return {
        "git.commit": tracking.git(root, "rev-parse", "HEAD"),
        "experiment": spec.name,
        "task": spec.task,
        "model.type": "ensemble",
        "dvc.stage": f"ensemble@{spec.name}",
        "dvc.evaluate_stage": f"ensemble@{spec.name}",
        "eval.data": eval_id,
        "ensemble.members": ",".join(members),
        **{f"ensemble.member.{name}.run_id": run for name, run in member_runs.items()},
    }


def run_params(spec: EnsembleSpec, stacking: Stacking) -> dict[str, str]:
    weights = {
        f"weight.{m}": f"{w:.6g}" for m, w in zip(spec.members, stacking.weights, strict=True)
    }
    return {
        "model.type": "ensemble",
        "members": ",".join(spec.members),
        "regularization": str(spec.regularization),
        "intercept": f"{stacking.intercept:.6g}",
        **weights,
    }


def package(spec: EnsembleSpec, task: Task, members: dict[str, DictConfig], stacking, root):
    """serving/<name> and the run's `model`, registered under the task's model name."""
    parts = [
        Member(
            name,
            experiment_paths(cfg, root)["model"],
            experiment_paths(cfg, root)["data"],
            cfg,
        )
        for name, cfg in members.items()
    ]
    target = resolve_path(next(iter(members.values())).paths.serving, root) / spec.name
    with atomic_dir(target) as folder:
        model_uri = save_ensemble_and_log(folder, task, parts, stacking.to_dict())
    return target, model_uri


def member_configs(params: DictConfig, spec: EnsembleSpec) -> dict[str, DictConfig]:
    """Each member's validated experiment config, with its paths, in member order."""
    return {
        name: validate_experiment(with_locations(params, params.experiments[name]))
        for name in spec.members
    }


def ensemble(params: DictConfig, key: str, root: Path) -> dict:
    spec = ensemble_spec(params.ensembles[key], params.experiments)
    task = get_task(spec.task)
    members = member_configs(params, spec)
    val_probabilities, val_labels = validation_outputs(spec, members, root)
    stacking = fit_stacking(val_probabilities, val_labels, spec.regularization)
    val_accuracy = cross_validated_accuracy(val_probabilities, val_labels, spec.regularization)
    eval_id = held_out_id(spec, members)
    probabilities, labels = held_out_outputs(spec, members, root)
    plots = resolve_path(params.paths.plots, root) / spec.name / "eval"
    plots.mkdir(parents=True, exist_ok=True)
    combined = stacking.combine(probabilities)
    scoring = task.role("evaluate")
    results = {"task": task.name, **scoring.scores(labels, combined, plots, spec.name)}
    # Beside its plots: predictions/ holds the members' files, which this stage reads.
    write_predictions(scoring.predictions(labels, combined), plots / PREDICTIONS_ARTIFACT)

    tracking.connect(root)
    experiment_id = tracking.task_experiment(task.name, root)
    with mlflow.start_run(experiment_id=experiment_id, run_name=spec.name) as run:
        mlflow.set_tags(run_tags(spec, members, root, eval_id))
        mlflow.set_tags(tracking.pipeline_tags(experiment_id))  # under `rnnlab repro`
        mlflow.log_params(run_params(spec, stacking))
        mlflow.log_metrics({k: v for k, v in results.items() if isinstance(v, float)})
        mlflow.log_metric(task.validation_metric, val_accuracy)
        mlflow.log_artifacts(str(plots), "evaluation")
        serving, model_uri = package(spec, task, members, stacking, root)
        version = tracking.register(task.name, model_uri, run.info.run_id)
        mlflow.set_tag("registry.version", version)
    results |= {task.validation_metric: val_accuracy, "mlflow_run_id": run.info.run_id}
    write_json(resolve_path(params.paths.metrics, root) / f"{spec.name}.json", results)
    log.info("ensemble %s: %s, weights %s", spec.name, results, stacking.weights)
    return results | {"serving": serving, "version": version, "stacking": stacking}
