"""`rnnlab` command line: one subcommand per pipeline stage, each taking Hydra overrides.

Ad-hoc runs compose conf/config.yaml with the overrides given; DVC stages pass
`--params-key` to read their own section of params.yaml instead (so `dvc exp run -S`
overrides, which rewrite params.yaml, are honoured). As in a `@hydra.main` app, those
subcommands' `--help` lists the config groups and `--cfg job|hydra|all` prints the composed
config instead of running (config/front_door.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rnnlab import logs
from rnnlab.config.front_door import CFG_PARTS, config_yaml, groups_epilog
from rnnlab.config.settings import (
    compose_run,
    load_params_section,
    repo_root,
    with_locations,
)
from rnnlab.errors import ConfigError, RnnlabError

log = logging.getLogger(__name__)
# Set by DVC for a stage's command: the stage's name (e.g. train@imdb_lstm).
STAGE_ENV = "DVC_STAGE"

# Where a params.yaml section lands in a run config, per subcommand ("" = at the top).
SECTION_SLOT = {"download": "source", "parse": "source", "prepare": "dataset"}
# Subcommands that run one experiment's stage on its checked config.
EXPERIMENT_STAGES = ("select", "train", "package", "evaluate")
# Subcommands that run on a config composed from conf/config.yaml (or read from params.yaml).
RUN_CONFIG_COMMANDS = ("download", "parse", "prepare", *EXPERIMENT_STAGES)
# Subcommands that load TensorFlow (the config check imports rnnlab.training; each task's
# model-using command too): quietly, first.
TENSORFLOW_COMMANDS = RUN_CONFIG_COMMANDS


def run_config(args: argparse.Namespace, root: Path) -> DictConfig:
    """The stage's config, checked against the schema before any work starts."""
    from rnnlab.training.experiment import validate_dataset, validate_experiment

    cfg = unchecked_run_config(args, root)
    if args.command in EXPERIMENT_STAGES:
        return validate_experiment(cfg)
    if args.command == "prepare":
        cfg.dataset = validate_dataset(cfg.dataset)
    return cfg


def unchecked_run_config(args: argparse.Namespace, root: Path) -> DictConfig:
    if not args.params_key:
        return compose_run(args.overrides, root)
    params, section = load_params_section(args.params_key, root)
    slot = SECTION_SLOT.get(args.command, "")
    body = OmegaConf.create({slot: section} if slot else OmegaConf.to_container(section))
    return OmegaConf.merge(with_locations(params, body), OmegaConf.from_dotlist(args.overrides))


def cmd_show_config(args: argparse.Namespace, root: Path) -> None:
    """`--cfg job|hydra|all`: print the config the command would run, and run nothing."""
    overrides = None if args.params_key else args.overrides
    cfg = run_config(args, root)
    sys.stdout.write(config_yaml(args.cfg, cfg, overrides, root, resolve=args.resolve))


def cmd_compose(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.pipeline.compose import compose_params, is_stale
    from rnnlab.pipeline.run_lock import check_free

    if args.check:
        if is_stale(root):
            raise RnnlabError("params.yaml is stale against conf/; run `rnnlab compose`")
        print("params.yaml is up to date with conf/")
        return
    with status_if_busy(root):
        check_free(root)  # the running pipeline reads params.yaml: never rewrite it under it
    print(f"composed {compose_params(args.overrides, root)}")


def cmd_download(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.pipeline import stages

    cfg = run_config(args, root)
    names = args.sources or list(cfg.sources)
    for path in stages.download(cfg, names, root):
        print(f"verified {path}")


def cmd_parse(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.pipeline import stages

    cfg = run_config(args, root)
    for source in [args.params_key.rsplit(".", 1)[-1]] if args.params_key else list(cfg.sources):
        print(f"wrote {stages.parse(cfg, source, root)}")


def cmd_prepare(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.pipeline import stages

    meta = stages.prepare(run_config(args, root), root)
    print(f"prepared {meta['name']}: {meta.get('sizes')}")


def require_tracking(root: Path) -> None:
    """Fail before any config, data or model work if the tracking server is unreachable or
    refuses the account."""
    from rnnlab.tracking.access import check_login
    from rnnlab.tracking.runs import check_reachable, tracking_uri

    check_reachable(tracking_uri(root))
    check_login(tracking_uri(root))


def cmd_train(args: argparse.Namespace, root: Path) -> None:
    require_tracking(root)
    if args.multirun:
        from rnnlab.pipeline.sweep import multirun

        multirun(args.overrides, root)
        return
    from rnnlab.pipeline.select import run_select
    from rnnlab.pipeline.train import train

    cfg = run_config(args, root)
    # A DVC stage reads the select stage's record; an ad-hoc run chooses its epochs first.
    selection = None if args.params_key else run_select(cfg, root)
    result = train(cfg, root, selection)
    print(f"saved {result['model_path']} after {result['kept_epochs']} epochs")


def cmd_select(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.pipeline.select import run_select

    cfg = run_config(args, root)
    selection = run_select(cfg, root)
    if selection.refit:
        print(f"{cfg.name}: refit for {selection.epochs} epochs (best {selection.monitor})")
    else:
        print(f"{cfg.name}: no refit (trainer.refit=false); early stopping in train chooses")


def cmd_package(args: argparse.Namespace, root: Path) -> None:
    require_tracking(root)
    from rnnlab.pipeline.package import package

    result = package(run_config(args, root), root)
    print(f"packaged {result['serving']} as {result['model_uri']} (version {result['version']})")


def cmd_evaluate(args: argparse.Namespace, root: Path) -> None:
    require_tracking(root)
    from rnnlab.pipeline.evaluate import evaluate

    results = evaluate(run_config(args, root), root)
    print({k: v for k, v in results.items() if k != "confusion_matrix"})


def cmd_ensemble(args: argparse.Namespace, root: Path) -> None:
    require_tracking(root)
    from rnnlab.config.settings import load_params
    from rnnlab.pipeline.ensemble import ensemble
    from rnnlab.tasks import get_task

    if not args.params_key:
        raise ConfigError("rnnlab ensemble needs --params-key ensembles.<name> (see params.yaml)")
    result = ensemble(load_params(root), args.params_key.removeprefix("ensembles."), root)
    metric = get_task(result["task"]).main_metric
    print(
        f"ensemble {args.params_key}: {metric} {result[metric]:.4f}; packaged "
        f"{result['serving']} (version {result['version']})"
    )


def cmd_compare(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.config.settings import load_params
    from rnnlab.pipeline.compare import compare

    table = compare(load_params(root), root)
    print(f"leaderboard of {len(table)} experiments written to reports/leaderboard.md")


def cmd_promote(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.config.settings import load_params
    from rnnlab.pipeline.promote import promote
    from rnnlab.pipeline.retrain import preflight

    params = load_params(root)
    preflight(params, root, kinds=("registered_model",))  # promote moves aliases only
    for d in promote(params, root):
        print(f"{d.task}: {'promoted' if d.promoted else 'kept champion'} ({d.reason})")


def cmd_repro(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.config.settings import load_params
    from rnnlab.pipeline.reproduction import reproduce
    from rnnlab.pipeline.retrain import preflight

    preflight(load_params(root), root)  # before DVC starts: the account may log and promote
    with status_if_busy(root):
        reproduce(root, args.lanes)


def cmd_status(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.pipeline.status import pipeline_status
    from rnnlab.pipeline.watch import show

    show(pipeline_status(root))


@contextmanager
def status_if_busy(root: Path) -> Iterator[None]:
    """A run in progress holds this checkout: show where it stands, then fail."""
    from rnnlab.pipeline.run_lock import RunInProgress

    try:
        yield
    except RunInProgress:
        cmd_status(argparse.Namespace(), root)
        raise


def cmd_retrain(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.pipeline.retrain import retrain
    from rnnlab.pipeline.run_lock import check_free

    with status_if_busy(root):
        check_free(root)

    report = retrain(args.overrides, root, force=args.force)
    print(report.read_text(encoding="utf-8"))


def cmd_git_outputs(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.pipeline.outputs import git_kept

    print("\n".join(git_kept(root)))


def cmd_use(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.serving.inference import open_model

    model, source = open_model(args.model, args.task, root)
    print(f"model: {source}", file=sys.stderr)  # stderr: the output stays the model's alone
    sys.stdout.write(args.use.run(args, model))


def add_use_commands(sub) -> None:
    """Each task's command that uses a trained model (predict, generate, forecast)."""
    from rnnlab.tasks import builtin_tasks, get_task

    model_help = "model URI (models:/..., runs:/...) or path; default: the task's champion"
    for name in builtin_tasks():
        use = get_task(name).role("command").COMMAND
        parser = sub.add_parser(use.name, help=use.help)
        use.add_arguments(parser)
        parser.add_argument("--model", help=model_help)
        parser.set_defaults(handler=cmd_use, task=name, use=use)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params-key",
        help="read the settings from this section of params.yaml (used by dvc.yaml stages)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. dataset.max_len=80")


def add_run_command(
    sub: argparse._SubParsersAction, name: str, help_text: str, epilog: str
) -> argparse.ArgumentParser:
    """A stage's subcommand; those run on a composed config get Hydra's flags and groups."""
    if name not in RUN_CONFIG_COMMANDS:
        return sub.add_parser(name, help=help_text)
    command = sub.add_parser(
        name,
        help=help_text,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flags = command.add_mutually_exclusive_group()  # --cfg shows one run's config: not with -m
    if name == "train":
        flags.add_argument(
            "-m",
            "--multirun",
            action="store_true",
            help="Hydra sweep: comma lists, hydra/launcher=joblib, hparams_search=...",
        )
    flags.add_argument(
        "-c",
        "--cfg",
        choices=CFG_PARTS,
        help="print the config instead of running (job: the run's, hydra: Hydra's node, all: both)",
    )
    command.add_argument(
        "--resolve", action="store_true", help="with --cfg: resolve interpolations first"
    )
    return command


COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace, Path], None]]] = {
    "download": ("download and verify raw data (official host or $RNNLAB_MIRROR)", cmd_download),
    "parse": ("parse a raw download into a table in paths.interim (its task says how)", cmd_parse),
    "prepare": ("vocabulary, encoding, padding and splits for one dataset variant", cmd_prepare),
    "select": ("choose a refitting experiment's epochs (selection/<experiment>.json)", cmd_select),
    "train": ("train one experiment and save models/<experiment>/model.keras", cmd_train),
    "package": (
        "serving model, learning curves and registry version of a trained one",
        cmd_package,
    ),
    "evaluate": ("score a trained experiment, write metrics/<experiment>.json", cmd_evaluate),
    "ensemble": (
        "stack a task's experiments, weighted on validation (serving/<ensemble>)",
        cmd_ensemble,
    ),
    "promote": ("move each task's champion alias to a better challenger", cmd_promote),
    "compare": ("leaderboard of the MLflow runs vs published figures (reports/)", cmd_compare),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnlab", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="debug logging, third-party libraries' included (also for the stages it runs)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compose = sub.add_parser("compose", help="compose conf/pipeline.yaml into params.yaml")
    compose.add_argument("--check", action="store_true", help="fail if params.yaml is stale")
    compose.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. suite=all")
    compose.set_defaults(handler=cmd_compose)
    repro_ = sub.add_parser(
        "repro", help="dvc repro of params.yaml's pipeline in parallel lanes (make repro)"
    )
    repro_.add_argument(
        "--lanes", type=int, help="parallel dvc repro processes (default: repro.lanes)"
    )
    repro_.set_defaults(handler=cmd_repro)
    status = sub.add_parser(
        "status", help="per experiment its stages done, running or pending, and the end"
    )
    status.set_defaults(handler=cmd_status)
    retrain = sub.add_parser("retrain", help="compose, dvc repro, promote better models, report")
    retrain.add_argument(
        "--force", action="store_true", help="retrain every stage (dvc repro --force)"
    )
    retrain.add_argument(
        "overrides", nargs="*", help="Hydra overrides for the pipeline, e.g. suite=all"
    )
    retrain.set_defaults(handler=cmd_retrain)
    git_outputs = sub.add_parser(
        "git-outputs", help="list the pipeline's files git keeps (what a retraining commits)"
    )
    git_outputs.set_defaults(handler=cmd_git_outputs)
    epilog = groups_epilog()
    for name, (help_text, handler) in COMMANDS.items():
        command = add_run_command(sub, name, help_text, epilog)
        if name == "download":
            command.add_argument(
                "--source",
                dest="sources",
                action="append",
                help="source name (repeatable; default: all)",
            )
        add_common(command)
        command.set_defaults(handler=handler)
    add_use_commands(sub)
    return parser


def chosen_handler(args: argparse.Namespace) -> Callable[[argparse.Namespace, Path], None]:
    """The subcommand's handler, or with `--cfg` the printing of its config instead."""
    if getattr(args, "cfg", None):
        return cmd_show_config
    if getattr(args, "resolve", False):
        raise ConfigError("--resolve only goes with --cfg job|hydra|all")
    return args.handler


def uses_tensorflow(args: argparse.Namespace) -> bool:
    if getattr(args, "cfg", None):  # printing a config loads no model
        return False
    return args.command in TENSORFLOW_COMMANDS or args.handler is cmd_use


@contextmanager
def timed_stage(args: argparse.Namespace, root: Path) -> Iterator[None]:
    """Under `dvc repro` (DVC_STAGE): say what the stage does and how long it took, and
    keep its progress record and, when it succeeds, its duration (tracking.state)."""
    stage = os.environ.get(STAGE_ENV, "").rsplit(":", 1)[-1]
    if not stage or args.command not in COMMANDS or getattr(args, "cfg", None):
        yield
        return
    from rnnlab.tracking import state

    state.write_progress(root, stage)
    log.info("%s: %s", stage, COMMANDS[args.command][0])
    started = time.monotonic()
    try:
        yield
    finally:
        state.clear_progress(root, stage)
    seconds = time.monotonic() - started
    state.record_duration(root, stage, seconds)
    log.info("%s: done in %.1fs", stage, seconds)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not logs.configure(args.verbose) and uses_tensorflow(args):
        logs.import_tensorflow_quietly()
    try:
        root = repo_root()
        with timed_stage(args, root):
            chosen_handler(args)(args, root)
    except RnnlabError as exc:
        print(f"rnnlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
