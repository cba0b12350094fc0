"""What the container backends (Docker, runc) share about a sandbox: its labels, its
name, where things are inside it and its agent's environment.

Operators, reaping and tests find sandboxes by these labels (runc keeps them as
OCI annotations) and names, so both backends must write the same ones.
"""

from __future__ import annotations

from faas.compute.backend import GENERIC_POOL, SandboxSpec
from faas.compute.lambda_env import API_SOCKET, API_SOCKET_DIR, SDK_PORT

LABEL_MANAGED = "faas.managed"
LABEL_NODE = "faas.node"
LABEL_FUNCTION = "faas.function"
LABEL_POOL = "faas.pool"
# The installation (an id kept in its Redis): servers with other Redis databases on
# the same Docker engine, even under the same node id, never reap each other's.
LABEL_INSTALLATION = "faas.installation"
# The server or worker process that made the container, and its socket directory.
LABEL_OWNER = "faas.owner"
LABEL_TOKEN = "faas.token"
SANDBOX_SOCKET_DIR = "/run/faas"
SANDBOX_SECRETS_DIR = "/run/secrets"
TASK_ROOT = "/var/task"


def sandbox_labels(spec: SandboxSpec, node: str, installation: str, owner: str) -> dict[str, str]:
    """What a sandbox is labelled with (runc's: annotated): operators, reaping and tests
    find sandboxes by these."""
    return {
        LABEL_MANAGED: "1",
        LABEL_NODE: node,
        LABEL_FUNCTION: "" if spec.generic else spec.function,
        LABEL_POOL: GENERIC_POOL if spec.generic else spec.pool_key,
        LABEL_INSTALLATION: installation,
        LABEL_OWNER: owner,
        LABEL_TOKEN: spec.token,
        **spec.labels,
    }


def sandbox_environment(spec: SandboxSpec) -> dict[str, str]:
    """The agent's environment in a zip function's sandbox, or a generic one's (nothing
    of any function: its environment arrives with /specialize)."""
    if spec.generic:
        env = {"FAAS_SOCKET_DIR": SANDBOX_SOCKET_DIR, "FAAS_GENERIC": "1"}
    else:
        env = {**spec.env, "FAAS_SOCKET_DIR": SANDBOX_SOCKET_DIR}
    return env | sdk_environment()


def sdk_environment() -> dict[str, str]:
    # The agent forwards its loopback SDK_PORT to the server's socket, mounted here.
    return {"FAAS_API_SOCKET": f"{API_SOCKET_DIR}/{API_SOCKET}", "FAAS_SDK_PORT": str(SDK_PORT)}


def container_name(function: str, token: str) -> str:
    """A function's container's name: operators and tests find its containers by it
    (a container made generic keeps an empty ``faas.function`` label)."""
    # A version's instances are "orders:3"'s: a container name takes no colon.
    return f"faas-{function[:40].replace(':', '-v')}-{token}"
