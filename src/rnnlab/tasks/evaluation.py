"""What a task's evaluate role returns: `evaluate(model, splits, out, cfg) -> EvaluationResult`.

Its own module, not base.py: only evaluation reads it, so a change here reruns evaluate
and ensemble stages, never a training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class EvaluationResult:
    """The metrics on the held-out split, and one row per scored example with its `target`
    and the model's `output` (the evaluate stage writes them to
    predictions/<experiment>.csv; the ensemble stage stacks the outputs)."""

    metrics: dict[str, Any]
    predictions: pd.DataFrame
