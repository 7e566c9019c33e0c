import hashlib
from pathlib import Path

import pytest

from rnnlab.data.download import Source, fetch
from rnnlab.errors import DownloadError

from .conftest import write_manifest


def source_for(path: Path, sha256: str | None = None) -> Source:
    digest = sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    return Source(url=path.as_uri(), filename=path.name, sha256=digest)


def test_file_url_download_is_verified(tmp_path: Path) -> None:
    origin = tmp_path / "origin" / "data.txt"
    origin.parent.mkdir()
    origin.write_text("hello")
    out = fetch(source_for(origin), tmp_path / "raw")
    assert out.read_text() == "hello"
    assert list(out.parent.iterdir()) == [out]


def test_wrong_hash_is_rejected_and_leaves_nothing(tmp_path: Path) -> None:
    origin = tmp_path / "data.txt"
    origin.write_text("tampered")
    raw = tmp_path / "raw"
    with pytest.raises(DownloadError, match="expected " + "0" * 64):
        fetch(source_for(origin, "0" * 64), raw)
    assert list(raw.iterdir()) == []


def test_mismatch_keeps_previous_good_file(tmp_path: Path) -> None:
    origin = tmp_path / "data.txt"
    origin.write_text("good")
    good = source_for(origin)
    raw = tmp_path / "raw"
    fetch(good, raw)
    origin.write_text("corrupted")  # the host now serves different bytes
    (raw / "data.txt").write_text("stale")  # and the local copy is not valid either
    with pytest.raises(DownloadError):
        fetch(good, raw)
    assert (raw / "data.txt").read_text() == "stale"
    assert sorted(p.name for p in raw.iterdir()) == ["data.txt"]


def test_valid_existing_file_is_reused(tmp_path: Path) -> None:
    origin = tmp_path / "data.txt"
    origin.write_text("good")
    source = source_for(origin)
    first = fetch(source, tmp_path / "raw")
    stamp = first.stat().st_mtime_ns
    origin.unlink()  # a second fetch must not need the origin
    assert fetch(source, tmp_path / "raw").stat().st_mtime_ns == stamp


def test_network_error_is_clear_and_writes_nothing(tmp_path: Path) -> None:
    source = Source(url="http://127.0.0.1:9/none.tar.gz", filename="none.tar.gz", sha256="0" * 64)
    raw = tmp_path / "raw"
    with pytest.raises(DownloadError, match="RNNLAB_MIRROR"):
        fetch(source, raw)
    assert list(raw.iterdir()) == []


def test_mirror_is_verified_against_its_manifest(tiny_mirror: Path, tmp_path: Path) -> None:
    official = Source(
        url="https://example.invalid/shakespeare.txt", filename="shakespeare.txt", sha256="f" * 64
    )
    out = fetch(official, tmp_path / "raw", mirror=tiny_mirror)
    assert out.read_bytes() == (tiny_mirror / "shakespeare.txt").read_bytes()


def test_corrupted_mirror_file_is_rejected(tiny_mirror: Path, tmp_path: Path) -> None:
    data = tiny_mirror / "shakespeare.txt"
    data.write_text(data.read_text()[:-10])  # truncated after the manifest was written
    source = Source(
        url="https://example.invalid/shakespeare.txt", filename="shakespeare.txt", sha256="f" * 64
    )
    with pytest.raises(DownloadError, match="corrupted"):
        fetch(source, tmp_path / "raw", mirror=tiny_mirror)
    assert not (tmp_path / "raw" / "shakespeare.txt").exists()


def test_mirror_manifest_without_the_file(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "other.txt").write_text("x")
    write_manifest(mirror)
    source = Source(url="https://example.invalid/data.txt", filename="data.txt", sha256="0" * 64)
    with pytest.raises(DownloadError, match=r"does not list data\.txt"):
        fetch(source, tmp_path / "raw", mirror=mirror)
