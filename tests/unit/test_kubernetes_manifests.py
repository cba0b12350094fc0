"""The Kubernetes manifests (deploy/kubernetes) as a cluster would take them, checked offline.

Each resource is validated against Kubernetes' own OpenAPI schemas (the
``kubernetes-validate`` package bundles them: no cluster, no network), strictly,
so a misspelt field fails here rather than being dropped by the API server.
Then what a schema cannot know: the probes name routes the gateway serves, the
environment names settings the server reads, the images are the ones
``docker-compose.yml`` (and so ``./deploy/up``) builds and runs, and the data
directory is the same path on the node and in the pod. The Swarm stack file
gets the same checks of its own settings and images.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from faas.settings import Settings
from gateway.edge.table import Role
from gateway.routes import ROWS
from tests.helpers import ROOT

KUBE = ROOT / "deploy" / "kubernetes"
SWARM_STACK = ROOT / "deploy" / "swarm" / "faas-stack.yml"
# The oldest Kubernetes still commonly run, and the newest the package knows.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version() + ".0")
SETTINGS = {f"FAAS_{f.name.upper()}" for f in fields(Settings)}


def resources(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = [
        (f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc)
        for path in sorted(KUBE.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in resources(path)
    ]
    assert found, f"no manifests under {KUBE}"
    return found


def one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [
        doc for _, doc in manifests() if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    return found


def compose_default(variable: str) -> str:
    """The default docker-compose.yml gives ``${VARIABLE:-default}``."""
    text = (ROOT / "docker-compose.yml").read_text()
    match = re.search(r"\$\{" + variable + r":-([^}]+)\}", text)
    assert match, f"docker-compose.yml has no default for {variable}"
    return match.group(1)


def gateway_container() -> dict[str, Any]:
    spec = one("DaemonSet", "faas-gateway")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return dict(container)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("where", "resource"), manifests(), ids=lambda v: str(v))
def test_each_resource_is_valid_for_kubernetes(
    where: str, resource: dict[str, Any], version: str
) -> None:
    # Given a resource of the manifests; when validated strictly; then no error
    kubernetes_validate.validate(resource, version, strict=True)


def test_kustomization_lists_the_manifests_and_leaves_the_example_secret_out() -> None:
    listed = yaml.safe_load((KUBE / "kustomization.yaml").read_text())["resources"]
    assert all((KUBE / name).is_file() for name in listed)
    assert "keys-secret.example.yaml" not in listed
    assert {"redis.yaml", "gateway.yaml"} <= set(listed)


def test_probes_ask_routes_the_gateway_serves_to_anyone() -> None:
    container = gateway_container()
    public = {row.path for row in ROWS if row.access is Role.PUBLIC and "GET" in row.methods}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/readyz", "/healthz"} <= public
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["port"] in ports
    assert str(ports["http"]) == env_of(container)["FAAS_PORT"]


def test_gateway_environment_names_settings_the_server_reads() -> None:
    env = env_of(gateway_container())
    assert set(env) <= SETTINGS, sorted(set(env) - SETTINGS)
    # Every gateway has its own node id: the node's name
    assert env["FAAS_NODE_ID"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}


def test_data_dir_and_socket_are_the_nodes_at_the_same_path() -> None:
    container = gateway_container()
    spec = one("DaemonSet", "faas-gateway")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    hosts = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    data_dir = env_of(container)["FAAS_DATA_DIR"]
    assert mounts["data"] == hosts["data"] == data_dir
    assert mounts["docker-socket"] == hosts["docker-socket"] == "/var/run/docker.sock"
    # The server refuses a data dir whose sockets would pass 107 bytes
    Settings.from_env({"FAAS_DATA_DIR": data_dir})


def test_keys_come_from_the_secret_every_gateway_mounts() -> None:
    container = gateway_container()
    spec = one("DaemonSet", "faas-gateway")["spec"]["template"]["spec"]
    env = env_of(container)
    (keys,) = [v for v in spec["volumes"] if "secret" in v]
    mount = next(m for m in container["volumeMounts"] if m["name"] == keys["name"])
    secret = one("Secret", keys["secret"]["secretName"])
    assert env["FAAS_KEYS_FILE"] == f"{mount['mountPath']}/keys.json"
    assert "keys.json" in secret["stringData"]
    assert env["FAAS_KEYS_GENERATE"] == "0"


def test_images_are_the_ones_deploy_builds_and_runs() -> None:
    redis = one("StatefulSet", "faas-redis")["spec"]["template"]["spec"]["containers"][0]
    assert gateway_container()["image"] == compose_default("FAAS_GATEWAY_IMAGE")
    assert redis["image"] == compose_default("FAAS_REDIS_IMAGE")
    # Images built on the nodes (no registry) must not be pulled
    assert gateway_container()["imagePullPolicy"] == "IfNotPresent"


def test_redis_keeps_an_fsynced_append_only_file_on_its_claim() -> None:
    statefulset = one("StatefulSet", "faas-redis")
    (redis,) = statefulset["spec"]["template"]["spec"]["containers"]
    args = redis["args"]
    option = dict(zip(args[1::2], args[2::2], strict=False))
    assert option["--appendonly"] == "yes" and option["--appendfsync"] == "always"
    assert option["--maxmemory-policy"] == "noeviction"
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    mount = next(m for m in redis["volumeMounts"] if m["name"] == claim["metadata"]["name"])
    assert mount["mountPath"] == option["--dir"]
    # The gateways find it by the StatefulSet's stable name under its headless Service
    service = one("Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    url = env_of(gateway_container())["FAAS_REDIS_URL"]
    assert url.startswith(
        f"redis://{statefulset['metadata']['name']}-0.{service['metadata']['name']}:"
    )


def test_swarm_stack_names_settings_and_images_deploy_builds() -> None:
    services = yaml.safe_load(SWARM_STACK.read_text())["services"]
    gateway, redis = services["gateway"], services["redis"]
    assert set(gateway["environment"]) <= SETTINGS, sorted(set(gateway["environment"]) - SETTINGS)
    assert gateway["deploy"]["mode"] == "global"
    for service, variable in ((gateway, "FAAS_GATEWAY_IMAGE"), (redis, "FAAS_REDIS_IMAGE")):
        assert service["image"] == f"${{{variable}:-{compose_default(variable)}}}"
    data = next(v for v in gateway["volumes"] if v["target"] != "/var/run/docker.sock")
    assert data["source"] == data["target"] == gateway["environment"]["FAAS_DATA_DIR"]
