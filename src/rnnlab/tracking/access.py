"""Who may do what on the tracking server, asked before any work starts.

A server running MLflow's basic-auth app (`make server`) answers 401 to an unknown account
or a wrong password and 403 to a request the account may not make. Met in the middle of a
pipeline, either would stop a stage after its training; so the pipeline's commands ask the
server first: who am I (`users/current`), and what may I do on each experiment the runs
are logged to and each registered model whose versions and `champion` alias they move
(`users/permissions/get`, which resolves permissions as the server's own check does).
A server without the auth app, or the embedded sqlite store, needs neither question.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request

from rnnlab.tasks import get_task
from rnnlab.tracking.runs import CHAMPION, TrackingError, check_reachable, is_server

CURRENT_USER = "/api/2.0/mlflow/users/current"
USER_PERMISSION = "/api/3.0/mlflow/users/permissions/get"
# MLflow's permission levels that allow creating runs, model versions and aliases.
MAY_UPDATE = {"EDIT", "MANAGE"}
NOTHING_RAN = "Nothing was run."
KINDS = ("experiment", "registered_model")  # the auth API's names of what we write to


@dataclass(frozen=True)
class Need:
    """One permission the work needs: to update `name` (an experiment or registered model)."""

    kind: str  # the auth API's resource type: experiment | registered_model
    name: str
    purpose: str  # what the update is for, as the error message says it


def pipeline_needs(tasks: Iterable[str]) -> list[Need]:
    """What the pipeline writes per task: runs in its experiment, versions and the alias."""
    needs = []
    for name in sorted(set(tasks)):
        task = get_task(name)
        needs.append(Need("experiment", task.mlflow_experiment, "logging runs"))
        needs.append(
            Need(
                "registered_model",
                task.registered_model,
                f"registering versions and moving the '{CHAMPION}' alias",
            )
        )
    return needs


def get(uri: str, endpoint: str, params: dict[str, str] | None = None):
    """One GET with the client's own credentials (MLFLOW_TRACKING_USERNAME/PASSWORD, token)."""
    return http_request(
        get_default_host_creds(uri),
        endpoint,
        "GET",
        params=params,
        max_retries=0,
        timeout=30,
        raise_on_status=False,
    )


def account_name(uri: str) -> str | None:
    return get_default_host_creds(uri).username


def check_login(uri: str) -> dict[str, Any] | None:
    """The server's record of our account (None: the server has no auth app)."""
    if not is_server(uri):
        return None
    check_reachable(uri)
    response = get(uri, CURRENT_USER)
    if response.status_code == 404:
        return None
    name = account_name(uri)
    if response.status_code == 401:
        if not name:
            raise TrackingError(
                f"the MLflow server at {uri} asks for an account: set "
                f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD. {NOTHING_RAN}"
            )
        raise TrackingError(
            f"the MLflow server at {uri} refused account '{name}' (HTTP 401: wrong user name "
            f"or password); fix MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD. "
            f"{NOTHING_RAN}"
        )
    if response.status_code != 200:
        raise TrackingError(
            f"the MLflow server at {uri} answered HTTP {response.status_code} to "
            f"{CURRENT_USER}: {response.text.strip()[:200]}. {NOTHING_RAN}"
        )
    return response.json()["user"]


def resource_id(uri: str, need: Need) -> str | None:
    """The id the auth API names the resource by; None if it does not exist yet."""
    if need.kind == "registered_model":
        found = get(uri, "/api/2.0/mlflow/registered-models/get", {"name": need.name})
        return need.name if found.status_code == 200 else None
    found = get(uri, "/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": need.name})
    return found.json()["experiment"]["experiment_id"] if found.status_code == 200 else None


def permission(uri: str, user: str, need: Need, ident: str) -> str:
    params = {"username": user, "resource_type": need.kind, "resource_id": ident}
    response = get(uri, USER_PERMISSION, params)
    if response.status_code != 200:
        raise TrackingError(
            f"the MLflow server at {uri} would not say what account '{user}' may do on "
            f"{need.kind.replace('_', ' ')} '{need.name}' (HTTP {response.status_code}). "
            f"{NOTHING_RAN}"
        )
    return response.json()["permission"]


def check_access(uri: str, needs: Iterable[Need]) -> None:
    """Fail now, in one line, if the account may not do all of `needs`.

    A resource that does not exist yet needs nothing: any account may create an experiment
    or a registered model, and manages what it creates.
    """
    user = check_login(uri)
    if user is None or user.get("is_admin"):
        return
    for need in needs:
        ident = resource_id(uri, need)
        if ident is None:
            continue
        level = permission(uri, user["username"], need, ident)
        if level not in MAY_UPDATE:
            raise TrackingError(
                f"account '{user['username']}' has {level} on MLflow "
                f"{need.kind.replace('_', ' ')} '{need.name}' but {need.purpose} needs EDIT; "
                f"ask the server's admin to grant EDIT, or use an account that has it. "
                f"{NOTHING_RAN}"
            )
