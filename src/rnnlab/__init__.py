"""rnnlab: a reproducible RNN pipeline (DVC + Hydra + Keras 3 + MLflow)."""

import os

from rnnlab.logs import QUIET_ENV

# TensorFlow's C++ start-up chatter (CPU features, oneDNN) hides the pipeline's own logs,
# also where rnnlab is imported as a library. The quiet value, so `rnnlab -v` lifts it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_ENV["TF_CPP_MIN_LOG_LEVEL"])

__version__ = "0.1.0"
