"""The same OpenBLAS kernels on every x86 CPU, so the same numbers come out on each.

numpy's and scipy's OpenBLAS pick their kernels by CPU when loaded. Sums of floats in
another order round differently: gensim's word2vec (scipy's sdot and saxpy) learns other
word vectors on an AVX-512 Intel Xeon than on an AVX2 AMD EPYC, and everything trained on
them differs. Haswell's kernels (AVX2, FMA) run on both; OpenBLAS reads the choice from
OPENBLAS_CORETYPE once, when loaded, so `rnnlab` sets it before numpy is imported.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

CORETYPE_ENV = "OPENBLAS_CORETYPE"
KERNELS = "Haswell"
REQUIRED_FLAGS = frozenset({"avx2", "fma"})  # what Haswell's kernels execute
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags (Linux); none where /proc/cpuinfo is absent."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def pinned_kernels(machine: str, flags: frozenset[str]) -> str | None:
    """Haswell's kernels where the CPU runs them; elsewhere (ARM, older x86) OpenBLAS's own."""
    if machine in ("x86_64", "AMD64") and REQUIRED_FLAGS.issubset(flags):
        return KERNELS
    return None


def pin_kernels() -> None:
    """Set OPENBLAS_CORETYPE for this process and its children; a value already set wins."""
    kernels = pinned_kernels(platform.machine(), cpu_flags())
    if kernels:
        os.environ.setdefault(CORETYPE_ENV, kernels)
