"""Model builders and custom layers; `build_model` is the single entry point."""

from rnnlab.models.builders import build_model

__all__ = ["build_model"]
