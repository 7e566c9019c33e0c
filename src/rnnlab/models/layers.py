"""Custom recurrent pieces from the seeds, as serializable Keras 3 objects."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="rnnlab")
class EquationRNNCell(keras.layers.Layer):
    """s_t = f(U x_t + W s_{t-1} + b), written out (seeds 000, 002, 003).

    Row-vector convention as in seed 002's numpy example: s_t = f(x_t U + s_{t-1} W + b),
    so `kernel` is U (input_dim, units) and `recurrent_kernel` is W (units, units); this is
    the same layout as keras.layers.SimpleRNNCell, which makes the two comparable weight for
    weight. The output o_t = V s_t + c is a Dense layer after the RNN.
    """

    def __init__(self, units: int, activation: str = "tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), name="kernel", initializer="glorot_uniform"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), name="recurrent_kernel", initializer="orthogonal"
        )
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")

    def call(self, inputs, states, training=False):
        previous = states[0] if isinstance(states, list | tuple) else states
        state = self.activation(
            ops.matmul(inputs, self.kernel)
            + ops.matmul(previous, self.recurrent_kernel)
            + self.bias
        )
        return state, [state]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
        }


@keras.saving.register_keras_serializable(package="rnnlab")
class LoopedCellsClassifier(keras.Model):
    """Seed 001's "MyRNN": two SimpleRNN cells stepped over the time axis explicitly.

    The Python loop over time steps is unrolled into the graph, as in the seed; cell
    dropout is active only when training.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int, units: int, dropout: float = 0.5, **kwargs
    ):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.units, self.dropout = units, dropout
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.cell0 = keras.layers.SimpleRNNCell(units, dropout=dropout)
        self.cell1 = keras.layers.SimpleRNNCell(units, dropout=dropout)
        self.head = keras.layers.Dense(1, activation="sigmoid")

    def call(self, inputs, training=False):
        x = self.embedding(inputs)
        # Keras cells cache their dropout mask (one mask per sequence, as keras.layers.RNN
        # does); a hand-written loop must clear it per call or a mask from a previous
        # trace would leak into this one.
        self.cell0.reset_dropout_mask()
        self.cell1.reset_dropout_mask()
        batch = ops.shape(x)[0]
        state0 = [ops.zeros((batch, self.units))]
        state1 = [ops.zeros((batch, self.units))]
        out1 = state1[0]
        for t in range(x.shape[1]):
            out0, state0 = self.cell0(x[:, t, :], state0, training=training)
            out1, state1 = self.cell1(out0, state1, training=training)
        return self.head(out1)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package="rnnlab")
class HashedNGrams(keras.layers.Layer):
    """Appends hashed n-gram ids to a padded token sequence (fastText's bigram trick).

    Token ids stay as they are; each n-gram of n >= 2 consecutive non-padding tokens becomes
    `vocab_size + hash(n-gram) % buckets`, and n-grams touching padding become 0, so a
    following Embedding(mask_zero=True) + average ignores them. Computed inside the model,
    so the exported model still takes plain token ids (and raw text through the vectorizer).
    """

    # Odd multipliers for a polynomial hash over int64 token ids (no overflow for n <= 3
    # with vocabularies below 2**20).
    PRIMES = (1, 1_000_003, 998_244_353)

    def __init__(self, vocab_size: int, ngrams: int, buckets: int, **kwargs):
        super().__init__(**kwargs)
        if ngrams > len(self.PRIMES):
            raise ValueError(f"ngrams={ngrams} > {len(self.PRIMES)} is not supported")
        self.vocab_size, self.ngrams, self.buckets = vocab_size, ngrams, buckets

    def call(self, tokens):
        tokens = ops.cast(tokens, "int64")
        pieces = [tokens]
        for n in range(2, self.ngrams + 1):
            length = ops.shape(tokens)[1] - n + 1
            parts = [tokens[:, k : k + length] for k in range(n)]
            hashed = sum(part * self.PRIMES[k] for k, part in enumerate(parts))
            valid = parts[0] > 0
            for part in parts[1:]:
                valid = ops.logical_and(valid, part > 0)
            ids = self.vocab_size + ops.mod(hashed, self.buckets)
            pieces.append(ops.where(valid, ids, ops.zeros_like(ids)))
        return ops.cast(ops.concatenate(pieces, axis=1), "int32")

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        if length is None:
            return (input_shape[0], None)
        return (input_shape[0], sum(length - n + 1 for n in range(1, self.ngrams + 1)))

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "ngrams": self.ngrams,
            "buckets": self.buckets,
        }


@keras.saving.register_keras_serializable(package="rnnlab")
class WordDropout(keras.layers.Layer):
    """Drops whole tokens while training by setting their ids to 0 (padding), so a following
    Embedding(mask_zero=True) + average leaves them out: the deep averaging network's word
    dropout (Iyyer et al. 2015). A review that would lose every token keeps them all, since
    an empty masked average is 0/0. At inference the ids pass through unchanged."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, ids, training=False):
        if not training or not self.rate:
            return ids
        draws = keras.random.uniform(ops.shape(ids), seed=self.seed_generator)
        kept = ops.logical_and(draws >= self.rate, ids > 0)
        emptied = ops.logical_not(ops.any(kept, axis=1, keepdims=True))
        kept = ops.logical_or(kept, emptied)
        return ops.where(kept, ids, ops.zeros_like(ids))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="rnnlab")
class MaskedGlobalMax(keras.layers.Layer):
    """Max over time that skips padded steps (keras.layers.GlobalMaxPooling1D ignores masks)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, mask=None):
        if mask is not None:
            lowest = ops.full_like(x, -1e9)
            x = ops.where(ops.expand_dims(mask, -1), x, lowest)
        return ops.max(x, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="rnnlab")
class DistinctIds(keras.layers.Layer):
    """Each row's ids sorted, repeats replaced by 0: a padded *set* of n-grams (binarised)."""

    def call(self, ids):
        ids = ops.sort(ids, axis=1)
        repeat = ops.concatenate(
            [ops.zeros_like(ids[:, :1], dtype="bool"), ids[:, 1:] == ids[:, :-1]], axis=1
        )
        return ops.where(repeat, ops.zeros_like(ids), ids)


@keras.saving.register_keras_serializable(package="rnnlab")
class NaiveBayesLogit(keras.layers.Layer):
    """NBSVM-style logit over a set of feature ids (Wang & Manning 2012; fast.ai's NBSVM++).

    logit = sum_i (w_i + w_adj) * r_i / r_adj + b, where r is the naive-Bayes log-count ratio
    of feature i on the training split (fixed, set by `adapt`). With solver "trainer" the
    trainer learns w; with "liblinear", `adapt` also solves NBSVM's L2-regularised logistic
    regression on the r-scaled features exactly (inverse strength C) and freezes w and b.
    With intercept=False, b stays 0, as in the published NBSVM (liblinear without a bias).
    Id 0 is padding and has r = 0, so it never contributes.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rows, self.w_adj, self.r_adj, self.l2 = rows, w_adj, r_adj, l2
        self.solver, self.C, self.intercept = solver, C, intercept

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

    def adapt(self, ids, labels, alpha: float = 1.0) -> None:
        """Set r from binarised feature ids (N, L) and 0/1 labels of the training split (and,
        with the liblinear solver, w and b)."""
        present = presence_matrix(ids, self.rows)
        positive = np.asarray(labels).ravel() == 1
        ratio = log_count_ratio(present, positive, alpha)
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
        self.weight.assign((fit.coef_[0] * self.r_adj - self.w_adj).astype("float32"))
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
        }


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
