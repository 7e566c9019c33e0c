"""What `make install` picks: the Python it accepts, TensorFlow's build, the venv it remakes."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from .conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
TENSORFLOW = {"tensorflow", "tensorflow-cpu"}
# The interpreter running the tests (under `make test` the venv's, first on the PATH).
THIS_PYTHON = f"PYTHON={sys.executable}"
PLATFORMS = {
    "Linux x86_64": {"sys_platform": "linux", "platform_machine": "x86_64"},
    "Linux aarch64": {"sys_platform": "linux", "platform_machine": "aarch64"},
    "macOS Apple Silicon": {"sys_platform": "darwin", "platform_machine": "arm64"},
}


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def fake_python(tmp_path: Path, version: tuple[int, int, int]) -> Path:
    """This interpreter, reporting another version (sitecustomize runs before any script)."""
    site = tmp_path / "site"
    site.mkdir()
    dotted = ".".join(map(str, version))
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        f"sys.version_info = {(*version, 'final', 0)!r}\n"
        f"sys.version = {dotted!r} + sys.version[sys.version.index(' '):]\n"
    )
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    return python


@pytest.mark.parametrize(("version", "target"), [((3, 10, 13), "install"), ((3, 14, 0), "test")])
def test_unsupported_python_stops_make_with_one_line_naming_the_fix(
    tmp_path: Path, version: tuple[int, int, int], target: str
) -> None:
    venv = tmp_path / "venv"
    result = make(target, f"PYTHON={fake_python(tmp_path, version)}", f"VENV={venv}")
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("rnnlab:")]
    assert ours == [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert len(ours) == 1
    assert f"Python {'.'.join(map(str, version))} " in ours[0]
    assert "needs 3.11 to 3.13 (pyproject.toml requires-python >=3.11,<3.14)" in ours[0]
    assert ours[0].endswith(f"make {target} PYTHON=python3.13")
    assert not venv.exists()  # stopped before the venv and pip


def test_missing_interpreter_is_named(tmp_path: Path) -> None:
    result = make("install", "PYTHON=python3-nowhere", f"VENV={tmp_path / 'venv'}")
    assert result.returncode != 0
    assert "rnnlab: no 'python3-nowhere' on the PATH" in result.stderr
    assert "make install PYTHON=python3.12" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_supported_python_passes_the_check_silently() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "check_python.py")],
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def pip_install_line(*args: str) -> str:
    result = make("-n", "install", *args)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "pip install --quiet -e" in line]
    return line


@pytest.mark.parametrize(
    ("extras", "groups"),
    [("", "cpu,dev"), ("s3", "cpu,dev,s3"), ("gpu", "dev,gpu"), ("gpu,s3", "dev,gpu,s3")],
)
def test_extras_choose_the_install_groups(tmp_path: Path, extras: str, groups: str) -> None:
    line = pip_install_line(f"EXTRAS={extras}", f"VENV={tmp_path / 'venv'}")
    assert line.endswith(f'-e ".[{groups}]"')


def test_cpu_and_gpu_together_are_refused() -> None:
    result = make("-n", "install", "EXTRAS=cpu,gpu")
    assert result.returncode != 0
    assert "EXTRAS names both cpu and gpu" in result.stderr


def made_venv(path: Path, groups: str) -> Path:
    """A venv folder whose stamp says this interpreter made it with these groups."""
    dry = make("-n", "install", f"VENV={path}", f"EXTRAS={groups}", THIS_PYTHON).stdout
    (stamp_line,) = [line for line in dry.splitlines() if line.startswith("echo ")]
    built_by = re.fullmatch(r'echo "(.*)" > .*', stamp_line).group(1)
    assert built_by.startswith(f"{sys.version.split()[0]} {sys.base_prefix} [")
    path.mkdir()
    (path / "pyvenv.cfg").write_text("home = /nowhere\n")
    (path / ".installed-stamp").write_text(built_by + "\n")
    return path


def remakes(venv: Path, *args: str) -> bool:
    dry = make("-n", "install", f"VENV={venv}", THIS_PYTHON, *args).stdout
    return f"|| rm -rf {venv}" in dry and "pip install" in dry


def test_venv_is_remade_when_its_python_or_groups_change(tmp_path: Path) -> None:
    venv = made_venv(tmp_path / "venv", "")
    assert "Nothing to be done" in make("install", f"VENV={venv}", THIS_PYTHON).stdout
    assert remakes(venv, "EXTRAS=gpu")
    other = (3, 12, 1) if sys.version_info[:2] != (3, 12) else (3, 13, 0)
    assert remakes(venv, f"PYTHON={fake_python(tmp_path, other)}")


def test_venv_keeps_its_extras_until_told_otherwise(tmp_path: Path) -> None:
    venv = made_venv(tmp_path / "venv", "gpu,s3")
    assert not remakes(venv)  # a later `make test` stays on the GPU build
    assert remakes(venv, "EXTRAS=")
    assert pip_install_line(f"VENV={venv}", THIS_PYTHON, "EXTRAS=").endswith('-e ".[cpu,dev]"')


def tensorflow_installs(groups: set[str], platform: dict[str, str]) -> list[str]:
    """The TensorFlow requirements pip takes for these extras on this platform."""
    requirements = [Requirement(r) for r in PYPROJECT["dependencies"]]
    for group in groups:
        requirements += [Requirement(r) for r in PYPROJECT["optional-dependencies"][group]]
    return [
        str(r).split(";")[0]
        for r in requirements
        if r.name in TENSORFLOW
        and (r.marker is None or any(r.marker.evaluate({**platform, "extra": g}) for g in groups))
    ]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_install_gets_exactly_one_tensorflow(platform: str) -> None:
    cpu = tensorflow_installs({"dev", "cpu"}, PLATFORMS[platform])
    gpu = tensorflow_installs({"dev", "gpu"}, PLATFORMS[platform])
    expected = {
        "Linux x86_64": (["tensorflow-cpu==2.21.0"], ["tensorflow[and-cuda]==2.21.0"]),
        "Linux aarch64": (["tensorflow==2.21.0"], ["tensorflow==2.21.0"]),
        "macOS Apple Silicon": (["tensorflow==2.21.0"], ["tensorflow==2.21.0"]),
    }
    assert (cpu, gpu) == expected[platform]


def test_readme_opens_with_the_supported_python_range() -> None:
    check = runpy.run_path(str(REPO / "scripts" / "check_python.py"))
    minors = check["supported_minors"](PYPROJECT["requires-python"])
    assert minors == ["3.11", "3.12", "3.13"]
    intro = (REPO / "README.md").read_text().split("## ")[0]
    assert f"Python {minors[0]} to {minors[-1]}" in intro
