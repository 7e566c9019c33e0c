"""How much `rnnlab` says: its own lines by default, everything with `-v`.

Quiet is the default: TensorFlow's C++ lines, MLflow's own loggers (its database
migrations through alembic), Python warnings of the libraries, and every third-party
logger below WARNING (gensim's lifecycle lines) stay silent. `-v` (or RNNLAB_VERBOSE=1)
logs everything at DEBUG, and exports RNNLAB_VERBOSE=1 so the stages that `dvc repro` runs
under `rnnlab -v repro` are verbose too. Libraries read their variables when imported, so
`configure` runs first.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_ENV = "RNNLAB_VERBOSE"
# Read by the libraries at import time; a value the user set wins.
QUIET_ENV = {
    # TensorFlow's C++ lines; 3, not 2: the one ERROR line of a normal run is oneDNN's
    # notice that it falls back to Eigen for booleans, and real errors raise in Python.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # MLflow's loggers (its notes on how it pickles a model, say) and alembic's migrations
    "MLFLOW_LOGGING_LEVEL": "ERROR",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # a bar per artifact a stage reads back
}
OWN_LOGGER = "rnnlab"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%H:%M:%S"


def verbose_requested(flag: bool) -> bool:
    return flag or os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def configure(flag: bool) -> bool:
    """Set up logging for this process (and the stages it starts); returns whether verbose."""
    verbose = verbose_requested(flag)
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
        for name, value in QUIET_ENV.items():  # a quiet parent's, inherited: not for -v
            if os.environ.get(name) == value:
                del os.environ[name]
    else:
        for name, value in QUIET_ENV.items():
            os.environ.setdefault(name, value)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format=FORMAT, datefmt=DATE_FORMAT
    )
    logging.getLogger(OWN_LOGGER).setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(True)  # warnings.warn of the libraries: shown with -v only
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.ERROR)
    return verbose


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 to /dev/null for the block: what C++ code writes there directly."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """TensorFlow's import prints its C++ start-up lines before any log level applies
    (tensorflow/tensorflow#100442): import it with stderr silenced. An import error still
    raises, and is shown, once stderr is back."""
    with native_stderr_silenced():
        import tensorflow  # noqa: F401
