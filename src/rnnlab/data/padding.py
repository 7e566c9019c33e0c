"""Vectorised padding/truncation with keras.utils.pad_sequences semantics.

Works on a flat token array plus row offsets (a ragged batch), so 50,000 reviews are padded
with a handful of NumPy operations instead of a Python loop per review.
"""

from __future__ import annotations

import numpy as np

SIDES = ("pre", "post")


def pad_ragged(
    values: np.ndarray,
    row_splits: np.ndarray,
    maxlen: int,
    padding: str = "pre",
    truncating: str = "pre",
    value: int = 0,
    dtype: np.dtype | type = np.int32,
) -> np.ndarray:
    """Pad/truncate rows `values[row_splits[i]:row_splits[i+1]]` to `maxlen` columns."""
    if padding not in SIDES or truncating not in SIDES:
        raise ValueError(f"padding and truncating must be one of {SIDES}")
    if maxlen <= 0:
        raise ValueError(f"maxlen must be positive, got {maxlen}")
    starts, ends = row_splits[:-1], row_splits[1:]
    kept = np.minimum(ends - starts, maxlen)
    source_start = ends - kept if truncating == "pre" else starts
    target_start = maxlen - kept if padding == "pre" else np.zeros_like(kept)
    rows = np.repeat(np.arange(len(kept)), kept)
    offset = np.arange(kept.sum()) - np.repeat(np.cumsum(kept) - kept, kept)
    out = np.full((len(kept), maxlen), value, dtype=dtype)
    out[rows, np.repeat(target_start, kept) + offset] = values[
        np.repeat(source_start, kept) + offset
    ]
    return out


def repad(
    x: np.ndarray, maxlen: int, padding: str = "pre", truncating: str = "pre", value: int = 0
) -> np.ndarray:
    """Rows padded with `value` on their `padding` side, cut or padded to `maxlen` columns:
    what pad_ragged makes of the unpadded rows (no row may hold `value` among its tokens)."""
    kept = x != value
    row_splits = np.concatenate([[0], np.cumsum(kept.sum(axis=1))])
    return pad_ragged(x[kept], row_splits, maxlen, padding, truncating, value, x.dtype)


def pad_lists(sequences: list[list[int]], maxlen: int, **kwargs) -> np.ndarray:
    """Convenience wrapper for Python lists (tests, inference on a few texts)."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    splits = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.fromiter((t for s in sequences for t in s), dtype=np.int64, count=int(lengths.sum()))
    return pad_ragged(flat, splits, maxlen, **kwargs)
