"""The team setup of docs/scaling.md on 127.0.0.1, for the slow tests: a throwaway PostgreSQL
cluster (Debian's `postgresql`, run as an unprivileged user), moto's S3 endpoint, and
`make server` (MLflow with the basic-auth app) on both. Each is started and stopped by the
test that uses it; their logs stay beside them for a failing test to show."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from .conftest import REPO, free_ports

BIN = Path(sys.executable).parent
BUCKET = "rnnlab-team"
ADMIN = ("admin", "admin-password-0")
CI = ("ci", "ci-secret-password-7f3a")
VIEWER = ("viewer", "viewer-password-42")
# What moto accepts; a real bucket takes the team's own keys from the same variables.
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = {"AWS_DEFAULT_REGION": "us-east-1"}
UNPRIVILEGED = "nobody"  # PostgreSQL refuses to run as root


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found[-1]:
        raise RuntimeError(f"{name} not found: apt-get install postgresql (see .ci/run)")
    return found[-1]


def as_unprivileged(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED, "--", *cmd] if os.geteuid() == 0 else cmd


def wait_until(ready: Callable[[], bool], what: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.5)


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).read()
        return True
    except OSError:
        return False


@contextmanager
def postgres(databases: tuple[str, ...] = ("mlflow", "mlflow_auth")) -> Iterator[str]:
    """A PostgreSQL cluster in a temporary folder; yields postgresql://mlflow@127.0.0.1:<port>."""
    home = Path(tempfile.mkdtemp(prefix="rnnlab-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, UNPRIVILEGED)
    data, log = home / "data", home / "postgres.log"
    (port,) = free_ports()
    try:
        subprocess.run(
            as_unprivileged(
                [postgres_bin("initdb"), "-D", str(data), "-U", "mlflow", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
        )
        options = f"-h 127.0.0.1 -p {port} -k {home}"
        pg_ctl = [postgres_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log)]
        subprocess.run(as_unprivileged([*pg_ctl, "-w", "start"]), check=True, capture_output=True)
        client = ["-h", "127.0.0.1", "-p", str(port), "-U", "mlflow"]
        for name in databases:
            subprocess.run(
                [postgres_bin("createdb"), *client, name], check=True, capture_output=True
            )
        yield f"postgresql://mlflow@127.0.0.1:{port}"
    finally:
        subprocess.run(
            as_unprivileged([postgres_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def background(cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd=None):
    """A service in its own process group, so stopping it stops its children too."""
    with log.open("w") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@contextmanager
def s3_endpoint(folder: Path) -> Iterator[str]:
    """moto's S3 server with the team bucket; yields the endpoint URL."""
    import boto3

    (port,) = free_ports()
    url = f"http://127.0.0.1:{port}"
    log = folder / "moto.log"
    with background([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log):
        wait_until(lambda: answers(f"{url}/moto-api/"), "moto", log)
        boto3.client("s3", endpoint_url=url, **s3_client_keys()).create_bucket(Bucket=BUCKET)
        yield url


def s3_client_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_KEYS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_KEYS["AWS_SECRET_ACCESS_KEY"],
        "region_name": REGION["AWS_DEFAULT_REGION"],
    }


def bucket_objects(endpoint: str) -> dict[str, bytes]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, **s3_client_keys())
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


@dataclass
class TeamServer:
    uri: str
    database: str  # the backend store, for the test to query directly
    s3: str
    log: Path

    def account_env(self, account: tuple[str, str]) -> dict[str, str]:
        """What a machine that trains sets: the server and its account, nothing about S3."""
        return {
            "MLFLOW_TRACKING_URI": self.uri,
            "MLFLOW_TRACKING_USERNAME": account[0],
            "MLFLOW_TRACKING_PASSWORD": account[1],
        }


def auth_config(folder: Path, database: str) -> Path:
    """deploy/basic_auth.ini with this cluster's user database."""
    text = (REPO / "deploy" / "basic_auth.ini").read_text()
    text = text.replace("postgresql://mlflow@127.0.0.1:5432", database)
    path = folder / "basic_auth.ini"
    path.write_text(text)
    return path


def create_account(uri: str, account: tuple[str, str]) -> None:
    response = requests.post(
        f"{uri}/api/2.0/mlflow/users/create",
        json={"username": account[0], "password": account[1]},
        auth=ADMIN,
        timeout=30,
    )
    response.raise_for_status()


@contextmanager
def team_server(folder: Path) -> Iterator[TeamServer]:
    """`make server` on PostgreSQL and moto, with the ci and viewer accounts."""
    folder.mkdir(parents=True, exist_ok=True)
    with postgres() as database, s3_endpoint(folder) as s3:
        (port,) = free_ports()
        uri = f"http://127.0.0.1:{port}"
        log = folder / "server.log"
        variables = {
            "SERVER_PORT": str(port),
            "SERVER_WORKERS": "1",
            "BACKEND_STORE_URI": f"{database}/mlflow",
            "ARTIFACTS_DESTINATION": f"s3://{BUCKET}/mlartifacts",
            "AUTH_CONFIG": str(auth_config(folder, database)),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env |= S3_KEYS | REGION
        env |= {
            "MLFLOW_S3_ENDPOINT_URL": s3,
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-csrf-key",
        }
        cmd = [
            "make",
            "--no-print-directory",
            "server",
            *(f"{k}={v}" for k, v in variables.items()),
        ]
        with background(cmd, log, env=env, cwd=REPO):
            wait_until(lambda: answers(f"{uri}/health"), "make server", log)
            for account in (CI, VIEWER):
                create_account(uri, account)
            yield TeamServer(uri, f"{database}/mlflow", s3, log)
