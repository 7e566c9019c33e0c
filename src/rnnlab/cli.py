"""`rnnlab` command line: one subcommand per pipeline stage, each taking Hydra overrides.

Ad-hoc runs compose conf/config.yaml with the overrides given; DVC stages pass
`--params-key` to read their own section of params.yaml instead (so `dvc exp run -S`
overrides, which rewrite params.yaml, are honoured).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rnnlab.errors import RnnlabError
from rnnlab.inference import TEXT_FORMATS
from rnnlab.settings import compose_run, load_params_section, repo_root

# Where a params.yaml section lands in a run config, per subcommand ("" = at the top).
SECTION_SLOT = {
    "download": "source",
    "parse": "source",
    "prepare": "dataset",
    "train": "",
    "evaluate": "",
}


def run_config(args: argparse.Namespace, root: Path) -> DictConfig:
    """The stage's config, checked against the schema before any work starts."""
    from rnnlab.schema import validate_dataset, validate_experiment

    cfg = unchecked_run_config(args, root)
    if args.command in ("train", "evaluate"):
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
    cfg = OmegaConf.merge({"paths": params.paths, "sources": params.sources}, body)
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(args.overrides))


def cmd_compose(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.compose import compose_params, is_stale

    if args.check:
        if is_stale(root):
            raise RnnlabError("params.yaml is stale against conf/; run `rnnlab compose`")
        print("params.yaml is up to date with conf/")
        return
    print(f"composed {compose_params(args.overrides, root)}")


def cmd_download(args: argparse.Namespace, root: Path) -> None:
    from rnnlab import stages

    cfg = run_config(args, root)
    names = args.sources or list(cfg.sources)
    for path in stages.download(cfg, names, root):
        print(f"verified {path}")


def cmd_parse(args: argparse.Namespace, root: Path) -> None:
    from rnnlab import stages

    print(f"wrote {stages.parse_imdb(run_config(args, root), root)}")


def cmd_prepare(args: argparse.Namespace, root: Path) -> None:
    from rnnlab import stages

    meta = stages.prepare(run_config(args, root), root)
    print(f"prepared {meta['name']}: {meta.get('sizes')}")


def require_tracking(root: Path) -> None:
    """Fail before any config, data or model work if the tracking server is unreachable."""
    from rnnlab.tracking import check_reachable, tracking_uri

    check_reachable(tracking_uri(root))


def cmd_train(args: argparse.Namespace, root: Path) -> None:
    require_tracking(root)
    if args.multirun:
        from rnnlab.sweep import multirun

        multirun(args.overrides, root)
        return
    from rnnlab.training import train

    result = train(run_config(args, root), root)
    print(f"saved {result['model_path']} after {result['kept_epochs']} epochs")


def cmd_evaluate(args: argparse.Namespace, root: Path) -> None:
    require_tracking(root)
    from rnnlab.evaluation import evaluate

    results = evaluate(run_config(args, root), root)
    print({k: v for k, v in results.items() if k != "confusion_matrix"})


def cmd_compare(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.report import compare
    from rnnlab.settings import load_params

    table = compare(load_params(root), root)
    print(f"leaderboard of {len(table)} experiments written to reports/leaderboard.md")


def cmd_promote(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.promotion import promote
    from rnnlab.settings import load_params

    for d in promote(load_params(root), root):
        print(f"{d.task}: {'promoted' if d.promoted else 'kept champion'} ({d.reason})")


def cmd_repro(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.lanes import repro
    from rnnlab.settings import load_params_section

    params, plan = load_params_section("repro", root)  # a stale params.yaml: "run compose"
    lanes = args.lanes if args.lanes is not None else plan.lanes
    repro(root, list(params.experiments), lanes, list(plan.first))


def cmd_retrain(args: argparse.Namespace, root: Path) -> None:
    from rnnlab.retrain import retrain

    report = retrain(args.overrides, root, force=args.force)
    print(report.read_text(encoding="utf-8"))


def cmd_predict(args: argparse.Namespace, root: Path) -> None:
    import pandas as pd

    from rnnlab import inference

    if args.review is not None and args.file is not None:
        raise RnnlabError("give either a review or --file, not both")
    if args.review is not None:
        reviews = pd.DataFrame({"text": [args.review]})
    elif args.file is not None or not sys.stdin.isatty():
        reviews = inference.read_reviews(args.file or "-", args.format_in, args.text_column)
    else:
        raise RnnlabError("nothing to classify: give a review, --file PATH, or pipe text in")
    model = inference.open_model(args.model, "imdb", root)
    table = inference.predict_reviews(model, reviews)
    sys.stdout.write(inference.render(table, args.output))


def cmd_generate(args: argparse.Namespace, root: Path) -> None:
    from rnnlab import inference

    model = inference.open_model(args.model, "shakespeare", root)
    text = inference.generate(model, args.prompt, args.length, args.temperature, args.seed)
    sys.stdout.write(text + "\n")


def cmd_forecast(args: argparse.Namespace, root: Path) -> None:
    from rnnlab import inference

    model = inference.open_model(args.model, "sine", root)
    table = inference.forecast(model, args.start, args.steps, args.plot)
    sys.stdout.write(inference.render(table, args.output))
    if args.plot:
        print(f"plot written to {args.plot}", file=sys.stderr)


def add_use_commands(sub) -> None:
    """predict / generate / forecast: use a trained model (champion by default)."""
    model_help = "model URI (models:/..., runs:/...) or path; default: the task's champion"
    predict = sub.add_parser("predict", help="classify reviews with an IMDB model")
    predict.add_argument("review", nargs="?", help="one review (else --file, else stdin)")
    predict.add_argument("--file", help="reviews: .txt (one per line), .csv or .jsonl; - = stdin")
    predict.add_argument("--format-in", choices=TEXT_FORMATS, help="input format (default: suffix)")
    predict.add_argument("--text-column", default="text", help="column with the reviews")
    predict.add_argument("--output", choices=("table", "jsonl"), default="table")
    predict.add_argument("--model", help=model_help)
    predict.set_defaults(handler=cmd_predict)
    generate = sub.add_parser("generate", help="continue a prompt with a character model")
    generate.add_argument("--prompt", default="ROMEO:")
    generate.add_argument("--length", type=int, default=500, help="characters to add")
    generate.add_argument("--temperature", type=float, default=0.8)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--model", help=model_help)
    generate.set_defaults(handler=cmd_generate)
    forecast = sub.add_parser("forecast", help="continue the sine curve with a sine model")
    forecast.add_argument("--start", type=float, default=0.0, help="x where the window starts")
    forecast.add_argument("--steps", type=int, default=200, help="values to forecast")
    forecast.add_argument("--plot", type=Path, default=Path("forecast.png"), help="PNG to write")
    forecast.add_argument("--output", choices=("table", "jsonl"), default="table")
    forecast.add_argument("--model", help=model_help)
    forecast.set_defaults(handler=cmd_forecast)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params-key",
        help="read the settings from this section of params.yaml (used by dvc.yaml stages)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. dataset.max_len=80")


COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace, Path], None]]] = {
    "download": ("download and verify raw data (official host or $RNNLAB_MIRROR)", cmd_download),
    "parse": ("parse the IMDB archive into data/interim/imdb_reviews.parquet", cmd_parse),
    "prepare": ("vocabulary, encoding, padding and splits for one dataset variant", cmd_prepare),
    "train": ("train one experiment and save models/<experiment>/model.keras", cmd_train),
    "evaluate": ("score a trained experiment, write metrics/<experiment>.json", cmd_evaluate),
    "promote": ("move each task's champion alias to a better challenger", cmd_promote),
    "compare": ("leaderboard of the MLflow runs vs published figures (reports/)", cmd_compare),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnlab", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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
    retrain = sub.add_parser("retrain", help="compose, dvc repro, promote better models, report")
    retrain.add_argument(
        "--force", action="store_true", help="retrain every stage (dvc repro --force)"
    )
    retrain.add_argument(
        "overrides", nargs="*", help="Hydra overrides for the pipeline, e.g. suite=all"
    )
    retrain.set_defaults(handler=cmd_retrain)
    for name, (help_text, handler) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        if name == "download":
            command.add_argument(
                "--source",
                dest="sources",
                action="append",
                help="source name (repeatable; default: all)",
            )
        if name == "train":
            command.add_argument(
                "-m",
                "--multirun",
                action="store_true",
                help="Hydra sweep: comma lists, hydra/launcher=joblib, hparams_search=...",
            )
        add_common(command)
        command.set_defaults(handler=handler)
    add_use_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.handler(args, repo_root())
    except RnnlabError as exc:
        print(f"rnnlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
