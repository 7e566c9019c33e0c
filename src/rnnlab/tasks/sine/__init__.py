"""Sine regression (seed 002): the next value of sin(x) from the previous `steps` samples.

The test curve continues after the training curve; inputs come in two layouts, the time
steps (N, steps, 1) or the book's one step of `steps` features (N, 1, steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnnlab.tasks.base import Task


@dataclass(frozen=True)
class SineTask(Task):
    def loss_and_metrics(self) -> tuple[Any, list]:
        import keras

        return keras.losses.MeanSquaredError(), [keras.metrics.RootMeanSquaredError(name="rmse")]

    def held_out_id(self, dataset: Any) -> str:
        d = dataset
        return f"sine/test{d.test_examples}_after{d.train_examples + d.steps}_steps{d.steps}_gap{d.gap}"

    def array_names(self, split: str, layout: str) -> tuple[str, str]:
        return f"x_{split}_{layout}", f"y_{split}"


TASK = SineTask(
    name="sine",
    title="Sine regression (test RMSE, lower is better)",
    problem="series",
    mlflow_experiment="sine-regression",
    registered_model="rnnlab-sine",
    main_metric="test_rmse",
    validation_metric="val_rmse",
    higher_is_better=False,
    metric_digits=6,
    validation_optional=True,
)
