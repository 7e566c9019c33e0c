"""The same OpenBLAS kernels on every x86 CPU (rnnlab.blas): word vectors learned on an
AVX-512 Xeon and on an AVX2 EPYC differed by kernel alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab.blas import CORETYPE_ENV, KERNELS, cpu_flags, pinned_kernels

AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
# The kernels numpy's and scipy's OpenBLAS loaded, seen from a fresh process.
PROBE = """
import json, os, rnnlab, numpy, scipy.linalg, threadpoolctl
blas = [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"]
print(json.dumps({"env": os.environ.get("OPENBLAS_CORETYPE"),
                  "kernels": sorted({i["architecture"] for i in blas})}))
"""


def probe(**env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k != CORETYPE_ENV}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_haswell_kernels_only_where_the_cpu_runs_them() -> None:
    assert pinned_kernels("x86_64", AVX2 | {"avx512f"}) == KERNELS  # Intel Xeon
    assert pinned_kernels("x86_64", AVX2) == KERNELS  # AMD EPYC
    assert pinned_kernels("x86_64", AVX2 - {"avx2"}) is None  # would crash on Haswell's
    assert pinned_kernels("aarch64", AVX2) is None  # ARM: OpenBLAS's own choice


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "fma"}
    assert cpu_flags(tmp_path / "absent") == frozenset()


@pytest.mark.skipif(
    pinned_kernels(os.uname().machine, cpu_flags()) is None, reason="no AVX2 x86 CPU here"
)
def test_importing_rnnlab_pins_numpy_and_scipy_to_the_kernels() -> None:
    assert probe() == {"env": KERNELS, "kernels": [KERNELS]}
    # A value the user set wins, and OpenBLAS takes it (Sandybridge runs on any AVX CPU).
    assert probe(**{CORETYPE_ENV: "Sandybridge"}) == {
        "env": "Sandybridge",
        "kernels": ["Sandybridge"],
    }
