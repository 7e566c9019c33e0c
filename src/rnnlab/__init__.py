"""rnnlab: a reproducible RNN pipeline (DVC + Hydra + Keras 3 + MLflow)."""

import os

from rnnlab.blas import pin_kernels
from rnnlab.logs import QUIET_ENV

# Before numpy loads OpenBLAS: the same kernels, and so the same numbers, on every x86 CPU.
pin_kernels()
# TensorFlow's C++ start-up chatter (CPU features, oneDNN) hides the pipeline's own logs,
# also where rnnlab is imported as a library. The quiet value, so `rnnlab -v` lifts it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_ENV["TF_CPP_MIN_LOG_LEVEL"])

__version__ = "0.1.0"
