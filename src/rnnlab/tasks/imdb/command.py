"""`rnnlab predict`: classify reviews given as an argument, a file or stdin."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rnnlab.errors import DataError, RnnlabError
from rnnlab.tasks.base import UseCommand

if TYPE_CHECKING:  # the CLI builds its parser from this module; keep that import cheap
    import pandas as pd

TEXT_FORMATS = ("txt", "csv", "jsonl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("review", nargs="?", help="one review (else --file, else stdin)")
    parser.add_argument("--file", help="reviews: .txt (one per line), .csv or .jsonl; - = stdin")
    parser.add_argument("--format-in", choices=TEXT_FORMATS, help="input format (default: suffix)")
    parser.add_argument("--text-column", default="text", help="column with the reviews")
    parser.add_argument("--output", choices=("table", "jsonl"), default="table")


def reviews_from(args: argparse.Namespace) -> pd.DataFrame:
    import pandas as pd

    if args.review is not None and args.file is not None:
        raise RnnlabError("give either a review or --file, not both")
    if args.review is not None:
        return pd.DataFrame({"text": [args.review]})
    if args.file is not None or not sys.stdin.isatty():
        return read_reviews(args.file or "-", args.format_in, args.text_column)
    raise RnnlabError("nothing to classify: give a review, --file PATH, or pipe text in")


def run(args: argparse.Namespace, model) -> str:
    from rnnlab.data.model_io import render

    return render(predict_reviews(model, reviews_from(args)), args.output)


def predict_reviews(model, reviews: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    from rnnlab.data.model_io import call_model

    if reviews.empty:
        raise DataError("no reviews to classify; give a review, a file with reviews, or stdin")
    scored = call_model(model, reviews[["text"]])
    return pd.concat([scored.reset_index(drop=True), reviews.reset_index(drop=True)], axis=1)


def input_format(path: str) -> str:
    fmt = Path(path).suffix.lstrip(".").lower() or "txt"
    fmt = {"json": "jsonl", "ndjson": "jsonl", "text": "txt"}.get(fmt, fmt)
    if fmt not in TEXT_FORMATS:
        raise DataError(
            f"cannot tell the format of {path!r}; pass --format-in with one of {TEXT_FORMATS}"
        )
    return fmt


def read_reviews(path: str, fmt: str | None, column: str) -> pd.DataFrame:
    """Reviews from a txt (one per line), CSV or JSONL file, or '-' for stdin."""
    import pandas as pd

    if path != "-" and not Path(path).is_file():
        raise DataError(f"{path} does not exist; give a txt, csv or jsonl file, or - for stdin")
    fmt = fmt or ("txt" if path == "-" else input_format(path))
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        if fmt == "txt":
            frame = pd.DataFrame({column: [line for line in text.splitlines() if line.strip()]})
        elif fmt == "csv":
            frame = pd.read_csv(io.StringIO(text), dtype={column: "string"}, keep_default_na=False)
        else:
            frame = pd.read_json(io.StringIO(text), lines=True, dtype={column: "string"})
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path} as {fmt}: {exc}") from exc
    if column not in frame.columns:
        raise DataError(
            f"{path} has columns {list(frame.columns)} but no {column!r}; "
            f"pass --text-column with the column holding the reviews"
        )
    return frame[[column]].rename(columns={column: "text"})


COMMAND = UseCommand("predict", "classify reviews with an IMDB model", add_arguments, run)
