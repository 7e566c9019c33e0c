"""Stacking: one probability from several models' probabilities.

A logistic regression on the members' log-odds (Wolpert's stacked generalisation with a
linear combiner): each member gets a weight, learned on predictions the members made on
data they were not trained on, so a strong, confident member is trusted more than a weak
one. The fitted combination is a few numbers, applied the same way in the pipeline and in
the served ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Probabilities are clipped here before taking log-odds: members' records keep six decimals,
# so a confident member's 0.9999999 reads 1.0, and both sides must saturate alike.
EPSILON = 1e-6
CV_FOLDS = 5


def log_odds(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class Stacking:
    """P = sigmoid(intercept + sum_i weight_i * log_odds(p_i)) over the members' p_i."""

    weights: tuple[float, ...]
    intercept: float

    def combine(self, probabilities: np.ndarray) -> np.ndarray:
        """(examples, members) probabilities -> (examples,) combined probability."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities.ndim != 2 or probabilities.shape[1] != len(self.weights):
            raise ValueError(
                f"expected (examples, {len(self.weights)}) probabilities, "
                f"got shape {probabilities.shape}"
            )
        logit = self.intercept + log_odds(probabilities) @ np.asarray(self.weights)
        return 1.0 / (1.0 + np.exp(-logit))

    def to_dict(self) -> dict:
        return {"weights": list(self.weights), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, payload: dict) -> Stacking:
        return cls(tuple(float(w) for w in payload["weights"]), float(payload["intercept"]))


def combiner(regularization: float):
    from sklearn.linear_model import LogisticRegression

    # C is scikit-learn's inverse L2 strength: the weights of a few correlated members.
    return LogisticRegression(C=regularization, max_iter=1000)


def fit_stacking(probabilities: np.ndarray, labels: np.ndarray, regularization: float) -> Stacking:
    """The combination that best predicts `labels` from the members' `probabilities`."""
    fitted = combiner(regularization).fit(log_odds(probabilities), np.asarray(labels))
    return Stacking(tuple(float(w) for w in fitted.coef_[0]), float(fitted.intercept_[0]))


def cross_validated_accuracy(
    probabilities: np.ndarray, labels: np.ndarray, regularization: float
) -> float:
    """Accuracy of the stacking on data its weights were not fitted on (k-fold): the honest
    validation figure, since the final weights are fitted on all of it."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    labels = np.asarray(labels)
    # Fewer folds on a tiny validation split: each fold needs an example of each class.
    count = min(CV_FOLDS, int(np.bincount(labels.astype(int)).min()))
    if count < 2:
        raise ValueError("cross-validation needs at least two validation examples per class")
    folds = StratifiedKFold(count, shuffle=True, random_state=0)
    scores = cross_val_score(combiner(regularization), log_odds(probabilities), labels, cv=folds)
    return float(np.mean(scores))
