"""Shared fixtures: tiny generated data in the real layouts, and a temporary project copy."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rnnlab.pipeline.compose import compose_params
from rnnlab.pipeline.stages import prepare
from rnnlab.tasks.imdb.prepare import write_reviews

REPO = Path(__file__).resolve().parents[1]
RNNLAB = str(Path(sys.executable).parent / "rnnlab")
PROJECT_FILES = [
    "conf",
    "dvc.yaml",
    "params.yaml",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    ".gitignore",
    "src",
]
# The longest files (measured under `make test`: e2e ~230 s, experiments ~180 s, serving and
# distribute ~60 s each) go first, so with two xdist workers taking whole files in this order
# (`--no-loadscope-reorder`; xdist would otherwise start with the files of most tests) no
# worker is left running the end-to-end test alone at the end.
LONGEST_FIRST = (
    "test_pipeline_e2e.py",
    "test_experiments.py",
    "test_serving.py",
    "test_distribute.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order inside a file and among the rest is kept


POSITIVE_WORDS = ["great", "wonderful", "superb", "moving", "brilliant"]
NEGATIVE_WORDS = ["awful", "boring", "dreadful", "waste", "terrible"]


def review_text(label: int, index: int) -> str:
    words = POSITIVE_WORDS if label else NEGATIVE_WORDS
    filler = " ".join(f"film{index % 7} plot actor" for _ in range(1 + index % 5))
    return (
        f"This movie was {words[index % 5]}.<br /><br />{filler} really {words[(index + 2) % 5]}!"
    )


def add_member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def make_imdb_archive(
    path: Path,
    per_class: int = 20,
    extra_members: dict[str, bytes] | None = None,
    links: dict[str, tuple[str, bytes]] | None = None,
) -> Path:
    """A small archive in the aclImdb layout, with the unsup and *.feat files to be skipped."""
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for sentiment, label in (("neg", 0), ("pos", 1)):
                for i in range(per_class):
                    rating = 8 + i % 3 if label else 1 + i % 4
                    text = review_text(label, i) + (" testonlyword" if split == "test" else "")
                    add_member(tar, f"aclImdb/{split}/{sentiment}/{i}_{rating}.txt", text.encode())
        add_member(tar, "aclImdb/train/unsup/0_0.txt", b"unlabelled review")
        add_member(tar, "aclImdb/train/labeledBow.feat", b"0:1 1:2")
        add_member(tar, "aclImdb/README", b"readme")
        for name, payload in (extra_members or {}).items():
            add_member(tar, name, payload)
        for name, (target, kind) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return path


def make_shakespeare(path: Path, repeats: int = 60) -> Path:
    verse = "ROMEO:\nBut soft, what light through yonder window breaks?\nAll: It is the east.\n\n"
    path.write_text(verse * repeats, encoding="utf-8")
    return path


def write_manifest(folder: Path) -> None:
    lines = [
        f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}"
        for f in sorted(folder.iterdir())
        if f.name != "SHA256SUMS"
    ]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def reset_mlflow_globals() -> None:
    """Forget tracking/registry URIs: mlflow.set_tracking_uri also exports them to os.environ,
    which would leak one test's store into the next test's subprocesses."""
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(name, None)
    tracking_utils._tracking_uri = None
    registry_utils._registry_uri = None


@pytest.fixture(autouse=True)
def isolated_mlflow():
    reset_mlflow_globals()
    yield
    reset_mlflow_globals()


@pytest.fixture
def tiny_mirror(tmp_path: Path) -> Path:
    """A mirror directory (official file names + SHA256SUMS) holding tiny data."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_imdb_archive(mirror / "aclImdb_v1.tar.gz")
    make_shakespeare(mirror / "shakespeare.txt")
    write_manifest(mirror)
    return mirror


@pytest.fixture
def project(tmp_path: Path, tiny_mirror: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project (config, pipeline, code) in a fresh git repo, using the tiny mirror."""
    root = tmp_path / "project"
    for name in PROJECT_FILES:
        source, target = REPO / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    monkeypatch.setenv("RNNLAB_MIRROR", str(tiny_mirror))
    monkeypatch.setenv("RNNLAB_ROOT", str(root))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return root


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every declared dataset variant, prepared from tiny generated data."""
    root = tmp_path_factory.mktemp("root")
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    make_imdb_archive(raw / "aclImdb_v1.tar.gz", per_class=6)
    make_shakespeare(raw / "shakespeare.txt")
    write_reviews(raw / "aclImdb_v1.tar.gz", root / "data" / "interim" / "imdb_reviews.parquet")
    params = OmegaConf.load(compose_params(["suite=all"], REPO, root / "params.yaml"))
    for task in params.datasets.values():
        for dataset in task.values():
            prepare(
                OmegaConf.merge(
                    {"paths": params.paths, "sources": params.sources}, {"dataset": dataset}
                ),
                root,
            )
    return root


def free_ports(count: int = 1) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (all bound at once, so no duplicates)."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def training_root(tiny_root: Path, target: Path) -> Path:
    """A project root for `rnnlab train` subprocesses: the tiny prepared data and conf/."""
    shutil.copytree(tiny_root / "data", target / "data")
    shutil.copytree(REPO / "conf", target / "conf")
    return target


def rnnlab_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of an `rnnlab` subprocess working in `root` (embedded MLflow store)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "TF_CONFIG")}
    return env | {"RNNLAB_ROOT": str(root)} | extra
