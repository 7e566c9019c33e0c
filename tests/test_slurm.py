"""`rnnlab train -m hydra/launcher=rnnlab_slurm` on a real single-node SLURM cluster
(Debian's slurm-wlm and munge, started and stopped by the test): two sweep jobs through
Hydra's submitit launcher, each an MLflow run nested under the sweep's parent run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from mlflow import MlflowClient

from rnnlab.tasks import get_task

from .conftest import RNNLAB, free_ports, rnnlab_env
from .team import background
from .test_sweep import FAST, sweep_project  # noqa: F401  (fixture: tiny data in a project)
from .test_tracking import mlflow_server  # noqa: F401  (fixture: real server on a free port)

# The cluster: this machine as its only node, every core a SLURM CPU; accounting off (no
# slurmdbd), so submitit follows its jobs through their result files.
SLURM_CONF = """\
ClusterName=rnnlab-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={home}/munge.sock
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
StateSaveLocation={home}/state
SlurmdSpoolDir={home}/spool
SlurmctldPidFile={home}/slurmctld.pid
SlurmdPidFile={home}/slurmd.pid
SlurmctldLogFile={home}/slurmctld.log
SlurmdLogFile={home}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch")


@contextmanager
def slurm_cluster() -> Iterator[dict[str, str]]:
    """munged, slurmctld and slurmd in the foreground; yields the environment that points
    SLURM's commands at this cluster."""
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        raise RuntimeError(f"{missing} not found: apt-get install slurm-wlm munge (.ci/run)")
    if os.geteuid() != 0:
        raise RuntimeError("a single-node SLURM cluster here runs its daemons as root")
    home = Path(tempfile.mkdtemp(prefix="rnnlab-slurm-"))  # short: it holds a unix socket
    try:
        for folder in ("state", "spool"):
            (home / folder).mkdir()
        key = home / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o400)
        ctld_port, slurmd_port = free_ports(2)
        conf = home / "slurm.conf"
        conf.write_text(
            SLURM_CONF.format(
                home=home, ctld_port=ctld_port, slurmd_port=slurmd_port, cpus=os.cpu_count()
            )
        )
        env = {**os.environ, "SLURM_CONF": str(conf)}
        munged = [
            "munged",
            "--foreground",
            "--force",
            f"--key-file={key}",
            f"--socket={home}/munge.sock",
            f"--pid-file={home}/munged.pid",
            f"--log-file={home}/munged.log",
            f"--seed-file={home}/munged.seed",
        ]
        with ExitStack() as stack:
            stack.enter_context(background(munged, home / "munged.out"))
            stack.enter_context(background(["slurmctld", "-D", "-f", str(conf)], home / "c.out"))
            stack.enter_context(
                background(["slurmd", "-D", "-N", "localhost", "-f", str(conf)], home / "d.out")
            )
            wait_for_idle_node(env, home)
            try:
                yield {"SLURM_CONF": str(conf), "SLURM_HOME": str(home)}
            finally:
                drain(env)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def wait_for_idle_node(env: dict[str, str], home: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True
        ).stdout.strip()
        if state == "idle":
            return
        if time.monotonic() > deadline:
            logs = "".join(p.read_text(errors="replace") for p in sorted(home.glob("*.log")))
            raise RuntimeError(f"the SLURM node is {state!r}, not idle:\n{logs}")
        time.sleep(0.5)


def queued(env: dict[str, str]) -> list[str]:
    result = subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True)
    return result.stdout.split()


def drain(env: dict[str, str], timeout: float = 120) -> None:
    """Let every job end before the daemons stop: a job step whose slurmd is gone would
    wait for it forever (submitit returns once a job has written its result, which can be
    before SLURM has finished the job)."""
    if not emptied(env, timeout):
        subprocess.run(["scancel", "--full", *queued(env)], env=env, capture_output=True)
        if not emptied(env, 30):
            raise RuntimeError(f"SLURM jobs {queued(env)} did not end")


def emptied(env: dict[str, str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while queued(env):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


@pytest.mark.slow  # a SLURM cluster and two training jobs: ~1.5 min
def test_sweep_runs_as_slurm_jobs_nested_under_one_mlflow_run(
    sweep_project: Path,  # noqa: F811
    mlflow_server: str,  # noqa: F811
) -> None:
    with slurm_cluster() as slurm:
        env = rnnlab_env(sweep_project, MLFLOW_TRACKING_URI=mlflow_server, **slurm)
        result = subprocess.run(
            [
                RNNLAB,
                "train",
                "-m",
                "hydra/launcher=rnnlab_slurm",
                # The repository's launcher asks for a GPU node; this cluster has one CPU node.
                "hydra.launcher.partition=debug",
                "hydra.launcher.gpus_per_node=null",
                "hydra.launcher.cpus_per_task=1",
                "hydra.launcher.mem_gb=1",
                "hydra.launcher.timeout_min=10",
                "experiment=imdb_pool",
                "trainer.learning_rate=0.001,0.003",
                *FAST,
            ],
            cwd=sweep_project,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        launched = (Path(slurm["SLURM_HOME"]) / "slurmd.log").read_text()
    # SLURM ran both jobs (an array job of two tasks), each in its own batch step.
    assert launched.count("Launching batch job") == 2
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name(get_task("imdb").mlflow_experiment)
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("sweep") == "true"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and parent.info.run_id in result.stdout
    assert sorted(r.data.params["trainer.learning_rate"] for r in children) == ["0.001", "0.003"]
    assert sorted(r.info.run_name for r in children) == ["imdb_pool-job0", "imdb_pool-job1"]
    assert all(r.info.status == "FINISHED" for r in children)
    assert all("best_val_accuracy" in r.data.metrics for r in children)
    jobs = sorted((sweep_project / "multirun").glob("*/*/.submitit/*/*_log.out"))
    assert len(jobs) == 2  # submitit's own record of the two SLURM jobs
    assert not (sweep_project / "models").exists()
