"""rnnlab: a reproducible RNN pipeline (DVC + Hydra + Keras 3 + MLflow)."""

import os

# TensorFlow's C++ start-up chatter (oneDNN, CPU features) hides the pipeline's own logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
