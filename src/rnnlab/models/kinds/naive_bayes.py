"""The `naive_bayes` kind: NBSVM, a logistic regression on the naive-Bayes log-count ratios
of a review's distinct hashed n-grams (Wang & Manning 2012; Mesnil et al.'s NBSVM-tri)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from rnnlab.data.splits import DataSpec
from rnnlab.errors import ConfigError
from rnnlab.models.ngrams import DistinctIds, HashedNGrams, ngram_label
from rnnlab.models.registry import ModelKind


@dataclass
class NaiveBayesModel:
    type: str = "naive_bayes"
    ngrams: int = 3
    ngram_buckets: int = 1048576
    w_adj: float = 0.4
    r_adj: float = 10.0
    l2: float = 0.0  # L2 penalty on the learned weights (per example; NBSVM's regularised fit)
    solver: str = "trainer"  # or "liblinear": NBSVM's exact fit when the ratios are set
    C: float = 1.0  # liblinear's inverse L2 strength, as scikit-learn names it
    intercept: bool = True  # learn a bias term b (the published NBSVM has none)
    alpha: float = 1.0  # naive-Bayes smoothing: alpha added to every feature's class counts
    beta: float = 1.0  # liblinear's weights interpolated toward their mean (1 = not at all)


@keras.saving.register_keras_serializable(package="rnnlab")
class NaiveBayesLogit(keras.layers.Layer):
    """NBSVM-style logit over a set of feature ids (Wang & Manning 2012; fast.ai's NBSVM++).

    logit = sum_i (w_i + w_adj) * r_i / r_adj + b, where r is the naive-Bayes log-count ratio
    of feature i on the training split (fixed, set by `adapt`). With solver "trainer" the
    trainer learns w; with "liblinear", `adapt` also solves NBSVM's L2-regularised logistic
    regression on the r-scaled features exactly (inverse strength C) and freezes w and b.
    With intercept=False, b stays 0, as in the published NBSVM (liblinear without a bias).
    beta < 1 interpolates the solved weights toward their mean magnitude, w' = (1 - beta)
    * mean|w| + beta * w (Wang & Manning's interpolation: part way back to plain naive Bayes,
    whose weights are all equal). Id 0 is padding and has r = 0, so it never contributes.
    """

    def __init__(
        self,
        rows: int,
        w_adj: float = 0.4,
        r_adj: float = 10.0,
        l2: float = 0.0,
        solver: str = "trainer",
        C: float = 1.0,  # liblinear's inverse L2 strength (scikit-learn's name)
        intercept: bool = True,
        alpha: float = 1.0,  # smoothing of the class counts
        beta: float = 1.0,  # interpolation of liblinear's weights toward their mean
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rows, self.w_adj, self.r_adj, self.l2 = rows, w_adj, r_adj, l2
        self.solver, self.C, self.intercept = solver, C, intercept
        self.alpha, self.beta = alpha, beta

    def build(self, input_shape):
        self.ratio = self.add_weight(
            shape=(self.rows,), name="ratio", initializer="zeros", trainable=False
        )
        self.weight = self.add_weight(
            shape=(self.rows,),
            name="weight",
            initializer=keras.initializers.RandomUniform(-0.1, 0.1),
            # The L2 of an NBSVM fit, which keeps the rare n-grams' weights near the prior.
            regularizer=keras.regularizers.L2(self.l2) if self.l2 else None,
        )
        self.bias = self.add_weight(
            shape=(), name="bias", initializer="zeros", trainable=self.intercept
        )

    def adapt(self, ids, labels) -> None:
        """Set r from binarised feature ids (N, L) and 0/1 labels of the training split (and,
        with the liblinear solver, w and b)."""
        present = presence_matrix(ids, self.rows)
        positive = np.asarray(labels).ravel() == 1
        ratio = log_count_ratio(present, positive, self.alpha)
        self.ratio.assign(ratio.astype("float32"))
        if self.solver == "liblinear":
            self.solve(present, positive, ratio)

    def solve(self, present, positive, ratio) -> None:
        """NBSVM's fit (liblinear's dual solver, as Mesnil et al.'s NBSVM-tri), written into w
        and b; the layer is then frozen, so the trainer's epochs only measure it."""
        from scipy import sparse
        from sklearn.linear_model import LogisticRegression

        fit = LogisticRegression(
            C=self.C, solver="liblinear", dual=True, max_iter=1000, fit_intercept=self.intercept
        )
        fit.fit(present @ sparse.diags(ratio), positive)
        weight = interpolated(fit.coef_[0], self.beta)
        self.weight.assign((weight * self.r_adj - self.w_adj).astype("float32"))
        self.bias.assign(float(np.ravel(fit.intercept_)[0]))  # 0.0 without an intercept
        self.trainable = False

    def call(self, ids):
        r = ops.take(self.ratio, ids)
        w = ops.take(self.weight, ids)
        return ops.expand_dims(ops.sum((w + self.w_adj) * r / self.r_adj, axis=1) + self.bias, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {
            **super().get_config(),
            "rows": self.rows,
            "w_adj": self.w_adj,
            "r_adj": self.r_adj,
            "l2": self.l2,
            "solver": self.solver,
            "C": self.C,
            "intercept": self.intercept,
            "alpha": self.alpha,
            "beta": self.beta,
        }


def interpolated(weight: np.ndarray, beta: float) -> np.ndarray:
    """Wang & Manning's w' = (1 - beta) * mean|w| + beta * w; the mean runs over every
    column, the hash buckets no training n-gram reached included (their w is 0)."""
    return (1.0 - beta) * np.abs(weight).mean() + beta * weight


def presence_matrix(ids, columns: int):
    """(N, columns) sparse 0/1 matrix: which ids each row of `ids` (N, L) holds."""
    from scipy import sparse

    ids = np.asarray(ids)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    present = sparse.csr_matrix(
        (np.ones(ids.size, dtype=np.float32), (rows, ids.ravel())), shape=(len(ids), columns)
    )
    present.data[:] = 1.0  # duplicates were summed; presence is what counts
    return present


def log_count_ratio(present, positive: np.ndarray, alpha: float) -> np.ndarray:
    """Naive Bayes' log-count ratio of each column, smoothed by alpha; 0 for padding (id 0)."""
    p = alpha + np.asarray(present[positive].sum(axis=0)).ravel()
    q = alpha + np.asarray(present[~positive].sum(axis=0)).ravel()
    p[0] = q[0] = 0.0  # padding is not a feature: keep it out of the normalisation
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log((p / p.sum()) / (q / q.sum()))
    ratio[0] = 0.0
    return ratio


def build_naive_bayes(m, data: DataSpec) -> keras.Model:
    if m.beta < 1 and m.solver != "liblinear":
        raise ConfigError(
            f"model.beta={m.beta} interpolates the weights liblinear solves, but "
            f"model.solver={m.solver!r} learns them; set model.solver=liblinear or model.beta=1"
        )
    tokens = keras.Input(shape=(data.seq_len,), dtype="int32", name="tokens")
    ids = HashedNGrams(data.vocab_size, m.ngrams, m.ngram_buckets, name="ngrams")(tokens)
    ids = DistinctIds(name="distinct")(ids)
    rows = data.vocab_size + m.ngram_buckets
    settings = ("w_adj", "r_adj", "l2", "solver", "C", "intercept", "alpha", "beta")
    layer = NaiveBayesLogit(rows, name="nb", **{key: m[key] for key in settings})
    probability = keras.layers.Activation("sigmoid", name="probability")(layer(ids))
    return keras.Model(tokens, probability, name="naive_bayes")


def adapt_ratios(model: keras.Model, x, y) -> None:
    """The naive-Bayes ratios (and with liblinear the weights) from the training split."""
    layer = model.get_layer("nb")
    features = keras.Model(model.inputs, layer.input)
    layer.adapt(features.predict(x, batch_size=1024, verbose=0), y)


KIND = ModelKind(
    NaiveBayesModel,
    build_naive_bayes,
    ("binary_text",),
    adapt=adapt_ratios,
    label=ngram_label("naive_bayes"),
)
