"""dvc.yaml's code dependencies: a stage re-runs when code that shapes its outputs changes,
and only then (a fix to a wrapper or a plot never retrains a model).

DVC only knows the files a stage lists, so a module its command imports but does not list
(a tokenizer the exported model embeds, the loader of the test split) could change a model
or a score while `dvc repro` reports everything up to date. These tests read the imports of
each stage's entry module, of the task modules it reaches by name (Task.role) and of the
model kind it loads by name (models/kinds/<model.type>.py), for every task and kind,
transitively, and check dvc.yaml lists every one of them; and that the training stages list
no serving, packaging or evaluation code.
"""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from omegaconf import MISSING

from rnnlab.models.registry import kind_names, kinds_for
from rnnlab.tasks import builtin_tasks, get_task

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
TASK_DEPS = ("${item.dataset.task}", "${item.task}")  # an experiment's task, an ensemble's
KIND_DEP = "${item.model.type}"

# Modules that cannot change a stage's outputs: error types and messages, path and config
# resolution and validation (the values arrive through the stage's params), MLflow logging
# (not a DVC output), progress reporting (epoch callbacks that only read the logs), atomic
# file writing. Their own imports serve them, so the closure does not follow them.
NOT_OUTPUT_SHAPING = {
    "rnnlab.errors",
    "rnnlab.config.settings",
    "rnnlab.config.schema",
    "rnnlab.training.experiment",
    "rnnlab.tracking.runs",
    "rnnlab.tracking.progress",
    "rnnlab.io",
}

# Stage -> the module its `rnnlab <command>` runs (src/rnnlab/cli.py), and the task modules
# it reaches through `get_task(...)` / `task.role(...)` ("" = the task package itself).
ENTRY_MODULES = {
    "select": ("rnnlab.pipeline.select", ("",)),
    "train": ("rnnlab.pipeline.train", ("",)),
    "package": ("rnnlab.pipeline.package", ("", ".serve")),
    "evaluate": ("rnnlab.pipeline.evaluate", ("", ".evaluate")),
    "ensemble": ("rnnlab.pipeline.ensemble", ("", ".evaluate", ".serve")),
}
# Stages over every experiment: the module they run, and whether they load every model kind.
FAN_IN_STAGES = {
    "compare": ("rnnlab.pipeline.compare", True),
    "promote": ("rnnlab.pipeline.promote", False),
}
TRAINING_STAGES = ("select", "train")
# The stages of one experiment load its own model kind; an ensemble loads members of any kind.
KIND_STAGES = ("select", "train", "package", "evaluate")


def module_file(name: str) -> Path:
    path = SRC.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def direct_imports(name: str) -> set[str]:
    """rnnlab modules imported anywhere in the module (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(module_file(name).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rnnlab"):
            found.add(node.module)
            # `from rnnlab.tracking import runs` imports a module, not a name.
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rnnlab")}
    return {n for n in found if module_file(n).exists()}


def imported_closure(*entries: str) -> set[str]:
    seen, pending = set(), list(entries)
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            if name not in NOT_OUTPUT_SHAPING:
                pending.extend(direct_imports(name))
    return seen


def shaping_modules(stage: str, task: str, kind: str = "") -> set[str]:
    entry, roles = ENTRY_MODULES[stage]
    kinds = [kind] if stage in KIND_STAGES else kind_names()
    closure = imported_closure(
        entry,
        *(f"rnnlab.tasks.{task}{role}" for role in roles),
        *(f"rnnlab.models.kinds.{name}" for name in kinds if name),
    )
    return {name for name in closure - NOT_OUTPUT_SHAPING if holds_code(name)}


def holds_code(name: str) -> bool:
    """False for a package __init__ with at most a docstring (rnnlab.pipeline, ...)."""
    body = ast.parse(module_file(name).read_text(encoding="utf-8")).body
    return any(
        not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body
    )


def listed_deps(stage: str, task: str, kind: str = "") -> list[Path]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    deps = [dep for dep in stages[stage]["do"]["deps"] if dep.startswith("src/")]
    for template in TASK_DEPS:
        deps = [dep.replace(template, task) for dep in deps]
    return [ROOT / dep.replace(KIND_DEP, kind) for dep in deps]


def stage_tasks() -> list[tuple[str, str, str]]:
    """(stage, task, kind): every task's experiment stages with each kind that fits the task;
    ensembles (members of any kind) of the tasks that can serve one."""
    can_ensemble = [
        t for t in builtin_tasks() if hasattr(get_task(t).role("serve"), "ENSEMBLE_WRAPPER")
    ]
    experiments = [
        (stage, task, kind)
        for stage in KIND_STAGES
        for task in builtin_tasks()
        for kind in kinds_for(get_task(task).problem)
    ]
    return experiments + [("ensemble", task, "") for task in can_ensemble]


def covered(path: Path, deps: list[Path]) -> bool:
    return any(path == dep or dep in path.parents for dep in deps)


def test_closure_follows_function_level_and_package_imports() -> None:
    closure = imported_closure("rnnlab.pipeline.evaluate")
    # evaluate imports the models package, whose load_model finds the kinds by name inside a
    # function; the kind's own imports (shared layers) must be seen from the kind module.
    assert {"rnnlab.models.registry", "rnnlab.tasks.base"} <= closure
    assert "rnnlab.models.ngrams" in shaping_modules("evaluate", "imdb", "naive_bayes")
    # The served model vectorizes raw text; packaging must see the tokenizer.
    assert "rnnlab.data.text" in shaping_modules("package", "imdb", "recurrent")


@pytest.mark.parametrize(("stage", "task", "kind"), stage_tasks())
def test_stage_lists_every_module_that_shapes_its_outputs(stage: str, task: str, kind: str) -> None:
    deps = listed_deps(stage, task, kind)
    missing = sorted(
        str(module_file(name).relative_to(ROOT))
        for name in shaping_modules(stage, task, kind)
        if not covered(module_file(name), deps)
    )
    assert not missing, f"dvc.yaml stage {stage!r} ({task}, {kind}) does not list: {missing}"


@pytest.mark.parametrize("stage", FAN_IN_STAGES)
def test_a_fan_in_stage_lists_every_module_that_shapes_its_outputs(stage: str) -> None:
    """compare and promote read every task's runs; compare labels them by their model kind."""
    entry, loads_kinds = FAN_IN_STAGES[stage]
    closure = imported_closure(
        entry,
        *(f"rnnlab.tasks.{task}" for task in builtin_tasks()),
        *(f"rnnlab.models.kinds.{kind}" for kind in kind_names() if loads_kinds),
    )
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    deps = [ROOT / dep for dep in stages[stage]["deps"] if dep.startswith("src/")]
    missing = sorted(
        str(module_file(name).relative_to(ROOT))
        for name in closure - NOT_OUTPUT_SHAPING
        if holds_code(name) and not covered(module_file(name), deps)
    )
    assert not missing, f"dvc.yaml stage {stage!r} does not list: {missing}"


@pytest.mark.parametrize("stage", KIND_STAGES)
def test_an_experiment_stage_depends_on_its_own_model_kind_only(stage: str) -> None:
    """A change to one kind (NBSVM's solver, say) re-runs that kind's experiments, not all."""
    for kind in kind_names():
        deps = [str(dep.relative_to(ROOT)) for dep in listed_deps(stage, "imdb", kind)]
        assert "src/rnnlab/models" not in deps
        kind_deps = [dep for dep in deps if dep.startswith("src/rnnlab/models/kinds")]
        assert kind_deps == [f"src/rnnlab/models/kinds/{kind}.py"]
        others = {f"rnnlab.models.kinds.{other}" for other in kind_names()} - {
            f"rnnlab.models.kinds.{kind}"
        }
        assert not shaping_modules(stage, "imdb", kind) & others


@pytest.mark.parametrize("task", builtin_tasks())
@pytest.mark.parametrize("stage", TRAINING_STAGES)
def test_training_depends_on_no_serving_plotting_or_evaluation_code(stage: str, task: str) -> None:
    deps = [str(dep.relative_to(ROOT)) for dep in listed_deps(stage, task)]
    roles = ("prepare", "evaluate", "serve", "command")
    role_files = (f"src/rnnlab/tasks/{task}/{role}.py" for role in roles)
    evaluation = ("src/rnnlab/tasks/evaluation.py", "src/rnnlab/data/predictions.py")
    elsewhere = ("src/rnnlab/serving", "src/rnnlab/plots.py", *evaluation, *role_files)
    assert not [dep for dep in deps if dep.startswith(elsewhere)], deps
    assert not [m for m in shaping_modules(stage, task) if m.startswith("rnnlab.serving")]
    assert not shaping_modules(stage, task) & {"rnnlab.tasks.evaluation", "rnnlab.data.predictions"}
    # Models train on prepared token ids: a tokenizer change re-runs prepare, and only
    # arrays that come out different retrain anything.
    assert "src/rnnlab/data/text.py" not in deps
    # Nor does a config check or a message (a folder listed whole would cover them).
    paths = listed_deps(stage, task)
    retraining = [name for name in NOT_OUTPUT_SHAPING if covered(module_file(name), paths)]
    assert not retraining, f"dvc.yaml stage {stage!r} lists modules that shape no model"


@pytest.mark.parametrize("task", builtin_tasks())
def test_dataset_settings_take_every_value_from_the_conf(task: str) -> None:
    """tasks/<task>/settings.py names and types the `dataset:` settings; their values,
    defaults included, are in conf/dataset/<task>.yaml, so they reach each stage as DVC
    params and the schema module is no stage's dependency."""
    schema = get_task(task).dataset_schema
    conf = yaml.safe_load((ROOT / "conf" / "dataset" / f"{task}.yaml").read_text("utf-8"))
    assert sorted(f.name for f in fields(schema) if f.name not in conf) == []
    assert [f.name for f in fields(schema) if f.default != MISSING] == []
