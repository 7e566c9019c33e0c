"""The `region_cnn` kind: a convolution over the one-hot vectors of every region of a few
consecutive tokens, max-pooled over the review, and a classifier head (Johnson & Zhang
2015, "Effective Use of Word Order for Text Categorization with Convolutional Neural
Networks": seq-CNN)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops

from rnnlab.data.splits import DataSpec
from rnnlab.models.parts import classifier_head
from rnnlab.models.registry import ModelKind


@dataclass
class RegionCNNModel:
    type: str = "region_cnn"
    region: int = 3
    filters: int = 500
    mask_padding: bool = True
    dense_units: int = 0
    dropout: float = 0.5


@keras.saving.register_keras_serializable(package="rnnlab")
class RegionConvolution(keras.layers.Layer):
    """h_t = relu(b + sum_j W_j x_{t+j}) for the one-hot vectors x of the `region` tokens
    from t on. A one-hot product is a row lookup, so the W_j are tables of `vocab_size` rows,
    kept side by side in one. With `mask_padding`, padding (id 0) adds nothing and a region
    that starts on it outputs 0, so trimming the padding leaves the max over the review
    unchanged (the ReLU is never below 0)."""

    def __init__(self, vocab_size: int, region: int, filters: int, mask_padding: bool, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.region, self.filters = vocab_size, region, filters
        self.mask_padding = mask_padding

    def build(self, input_shape) -> None:
        # The lookup's start, as keras.layers.Embedding's.
        self.tables = self.add_weight(
            shape=(self.vocab_size, self.region * self.filters),
            initializer="uniform",
            name="tables",
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, ids):
        rows = ops.take(self.tables, ids, axis=0)
        if self.mask_padding:
            present = ops.expand_dims(ops.cast(ops.not_equal(ids, 0), rows.dtype), -1)
            rows = rows * present
        summed = self.bias
        for j in range(self.region):
            # Token t + j's row of W_j, moved back to step t; the last j steps have no t + j.
            part = rows[:, j:, j * self.filters : (j + 1) * self.filters]
            summed = summed + ops.pad(part, [[0, 0], [0, j], [0, 0]])
        outputs = ops.relu(summed)
        return outputs * present if self.mask_padding else outputs

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "region": self.region,
            "filters": self.filters,
            "mask_padding": self.mask_padding,
        }


def build_region_cnn(m, data: DataSpec) -> keras.Model:
    tokens = keras.Input(shape=(data.seq_len,), dtype="int32", name="tokens")
    regions = RegionConvolution(
        data.vocab_size, m.region, m.filters, m.mask_padding, name="regions"
    )(tokens)
    pooled = keras.layers.GlobalMaxPooling1D(name="max")(regions)
    return keras.Model(tokens, classifier_head(pooled, m.dense_units, m.dropout), name="region_cnn")


def region_cnn_label(params) -> str:
    return f"region_cnn {params.get('region', '?')}x{params.get('filters', '?')}"


KIND = ModelKind(
    RegionCNNModel, build_region_cnn, ("binary_text",), bucketable=True, label=region_cnn_label
)
