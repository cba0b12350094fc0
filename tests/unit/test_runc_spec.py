"""The runc backend's pure parts: a sandbox's OCI config, and its resolv.conf."""

from __future__ import annotations

from pathlib import Path

from faas.compute.runc.network import host_end, netns_name, resolv_conf
from faas.compute.runc.spec import BLOCKED_SYSCALLS, bind, oci_config


def config(netns: str | None = None) -> dict:  # type: ignore[type-arg]
    return oci_config(
        rootfs=Path("/data/runc/rootfs/abc"),
        args=["python3", "-c", "pass"],
        env={"A": "1"},
        cwd="/opt/faas",
        uid=10001,
        hostname="tok",
        binds=[bind(Path("/code"), "/var/task", writable=False)],
        tmp_size_mb=512,
        memory_mb=256,
        pids_limit=256,
        nofile=1024,
        cgroup="/faas-runc/tok",
        netns=netns,
        annotations={"faas.node": "n1"},
    )


def test_the_sandbox_runs_unprivileged_on_a_read_only_root() -> None:
    c = config()
    assert c["root"] == {"path": "/data/runc/rootfs/abc", "readonly": True}
    process = c["process"]
    assert process["user"] == {"uid": 10001, "gid": 10001}
    assert process["noNewPrivileges"] is True
    assert all(caps == [] for caps in process["capabilities"].values())
    assert process["env"] == ["A=1"]
    assert {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024} in process["rlimits"]


def test_memory_has_no_swap_beyond_it_and_processes_are_capped() -> None:
    resources = config()["linux"]["resources"]
    assert resources["memory"] == {"limit": 256 << 20, "swap": 256 << 20}
    assert resources["pids"] == {"limit": 256}


def test_tmp_is_the_one_writable_place_and_code_is_read_only() -> None:
    mounts = {m["destination"]: m for m in config()["mounts"]}
    assert "size=512m" in mounts["/tmp"]["options"]
    assert mounts["/var/task"]["options"][:2] == ["rbind", "ro"]
    assert "ro" in mounts["/sys"]["options"]


def test_a_new_network_namespace_unless_one_is_given() -> None:
    def network(c: dict) -> dict:  # type: ignore[type-arg]
        return next(n for n in c["linux"]["namespaces"] if n["type"] == "network")

    assert network(config()) == {"type": "network"}
    assert network(config("/run/netns/faas-tok")) == {
        "type": "network",
        "path": "/run/netns/faas-tok",
    }


def test_seccomp_refuses_what_docker_refuses_an_unprivileged_container() -> None:
    seccomp = config()["linux"]["seccomp"]
    assert seccomp["defaultAction"] == "SCMP_ACT_ALLOW"
    [rule] = seccomp["syscalls"]
    assert rule["action"] == "SCMP_ACT_ERRNO" and rule["errnoRet"] == 1
    for call in ("mount", "unshare", "setns", "ptrace", "keyctl", "bpf", "reboot"):
        assert call in rule["names"]
    assert len(set(BLOCKED_SYSCALLS)) == len(BLOCKED_SYSCALLS)


def test_proc_is_masked_as_docker_masks_it() -> None:
    linux = config()["linux"]
    assert "/proc/keys" in linux["maskedPaths"]
    assert "/proc/sysrq-trigger" in linux["readonlyPaths"]


def test_labels_travel_as_annotations() -> None:
    assert config()["annotations"] == {"faas.node": "n1"}


def test_loopback_resolvers_give_way_to_dockers_fallback() -> None:
    assert resolv_conf("nameserver 127.0.0.53\noptions edns0\n") == (
        "options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    )


def test_the_hosts_resolvers_are_kept_when_reachable() -> None:
    text = "search lan\nnameserver 10.0.0.2\nnameserver ::1\n"
    assert resolv_conf(text) == "search lan\nnameserver 10.0.0.2\n"


def test_names_fit_the_kernels_limits() -> None:
    token = "0123456789ab"
    assert len(host_end(token)) <= 15
    assert netns_name(token) == "faas-0123456789ab"
