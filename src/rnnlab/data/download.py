"""Checksummed downloads from the official host or from a local mirror.

A file is streamed to a temporary sibling, hashed on the way, and renamed into place only
when its SHA-256 matches; a valid existing file is reused. A mirror is a directory holding
the files under their official names plus a `SHA256SUMS` manifest in `sha256sum` format;
files taken from it are verified against that manifest.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from rnnlab.config.settings import MIRROR_ENV
from rnnlab.errors import DownloadError
from rnnlab.io import atomic_file

log = logging.getLogger(__name__)
CHUNK = 1 << 20
MANIFEST = "SHA256SUMS"
TIMEOUT_S = 60


@dataclass(frozen=True)
class Source:
    url: str
    filename: str
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(mirror: Path) -> dict[str, str]:
    manifest = mirror / MANIFEST
    if not manifest.is_file():
        raise DownloadError(
            f"mirror {mirror} has no {MANIFEST} manifest; create one with "
            f"`cd {mirror} && sha256sum * > {MANIFEST}` or unset {MIRROR_ENV}"
        )
    hashes = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            hashes[name.lstrip("*").strip()] = digest.lower()
    return hashes


def resolve_origin(source: Source, mirror: Path | None) -> tuple[str, str]:
    """(url to read, sha256 to expect) for the official host or the mirror."""
    if mirror is None:
        return source.url, source.sha256
    hashes = read_manifest(mirror)
    if source.filename not in hashes:
        raise DownloadError(
            f"mirror {mirror}/{MANIFEST} does not list {source.filename}; add the file and "
            f"its sha256 to the manifest, or unset {MIRROR_ENV} to use {source.url}"
        )
    return (mirror / source.filename).as_uri(), hashes[source.filename]


def fetch(source: Source, raw_dir: Path, mirror: Path | None = None) -> Path:
    """Make `raw_dir/<filename>` a verified copy of `source`; return its path."""
    destination = raw_dir / source.filename
    url, expected = resolve_origin(source, mirror)
    if destination.is_file() and sha256_of(destination) == expected:
        log.info("%s is already present and verified", destination)
        return destination
    with atomic_file(destination) as partial:
        actual = stream(url, partial)
        if actual != expected:
            raise DownloadError(
                f"{source.filename} from {url} has sha256 {actual}, expected {expected}: "
                "the file is corrupted or not the expected version; nothing was written. "
                "Fix the mirror file or the sha256 in conf/sources/default.yaml"
            )
    return destination


def stream(url: str, target: Path) -> str:
    """Copy `url` into `target` with a progress bar; return the SHA-256 of the bytes."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with (
                target.open("wb") as out,
                tqdm(total=total, unit="B", unit_scale=True, desc=Path(url).name) as bar,
            ):
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise DownloadError(
            f"could not download {url}: {exc}. On a machine without internet access, point "
            f"{MIRROR_ENV} at a local mirror directory (files + {MANIFEST})"
        ) from exc
    return digest.hexdigest()
