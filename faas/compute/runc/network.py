"""The network of runc sandboxes with network access: a bridge of ours, as Docker's.

The host has one bridge, ``faas-runc0`` (``BRIDGE_ADDRESS`` on ``SUBNET``), with
one NAT rule out and forwarding allowed from and back to it (Docker's ``FORWARD``
policy drops what no rule accepts). Each sandbox with network access gets a
network namespace named ``faas-<token>`` with a veth pair: ``eth0`` inside, with
an address of ``SUBNET`` and the bridge as its default route; the host end on the
bridge as an *isolated* port, so sandboxes reach the outside world but not each
other, as on the Docker backend's network (inter-container traffic disabled).

An address is leased by a file named after it in ``leases`` (made with
``O_EXCL``, holding the token and the owner), so that the worker processes of a
node never hand out one address twice; reaping gives back a dead owner's.
Setting one up is two ``ip -batch`` runs (about 7 ms); removing one spawns nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from faas.errors import BackendError

BRIDGE = "faas-runc0"
SUBNET = ipaddress.IPv4Network("10.213.0.0/16")
BRIDGE_ADDRESS = ipaddress.IPv4Address("10.213.0.1")
NETNS_DIR = Path("/run/netns")
# Docker's choice when the host's resolvers are loopback-only (systemd-resolved).
FALLBACK_RESOLVERS = ("8.8.8.8", "8.8.4.4")
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def netns_name(token: str) -> str:
    return f"faas-{token}"


def host_end(token: str) -> str:
    return f"h{token}"[:15]


def resolv_conf(host_text: str) -> str:
    """The sandboxes' ``/etc/resolv.conf``: the host's, minus loopback resolvers (not
    reachable from a namespace of its own), else Docker's public fallback."""
    kept = []
    servers = 0
    for line in host_text.splitlines():
        fields = line.split()
        if fields[:1] == ["nameserver"] and len(fields) > 1:
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(fields[1]).is_loopback:
                    continue
            servers += 1
        kept.append(line)
    if servers == 0:
        kept += [f"nameserver {ip}" for ip in FALLBACK_RESOLVERS]
    return "\n".join(kept) + "\n"


@dataclass(frozen=True)
class Lease:
    address: ipaddress.IPv4Address
    token: str
    owner: str


class Network:
    """The bridge, and the namespaces and addresses of this node's sandboxes."""

    def __init__(self, leases: Path) -> None:
        self._leases = leases
        # This process's leases by token: a removal need not list the node's.
        self._mine: dict[str, ipaddress.IPv4Address] = {}

    def ensure(self) -> None:
        """Blocking: the bridge, its address and the NAT rules, made if missing."""
        if shutil.which("ip") is None or shutil.which("iptables") is None:
            raise BackendError("the runc backend needs iproute2 and iptables on the host")
        self._leases.mkdir(parents=True, exist_ok=True)
        if not Path(f"/sys/class/net/{BRIDGE}").exists():
            _ip_batch(
                [
                    f"link add {BRIDGE} type bridge",
                    f"addr add {BRIDGE_ADDRESS}/{SUBNET.prefixlen} dev {BRIDGE}",
                ],
                may_exist=True,
            )
        _ip_batch([f"link set {BRIDGE} up"])
        subnet = str(SUBNET)
        _iptables_ensure(
            "nat", "POSTROUTING", ["-s", subnet, "!", "-o", BRIDGE, "-j", "MASQUERADE"]
        )
        _iptables_ensure("filter", "FORWARD", ["-i", BRIDGE, "!", "-o", BRIDGE, "-j", "ACCEPT"])
        _iptables_ensure(
            "filter",
            "FORWARD",
            ["-o", BRIDGE, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
        )

    async def attach(self, token: str, owner: str) -> str:
        """A namespace for sandbox ``token`` with its address; its path, for runc."""
        lease = await anyio.to_thread.run_sync(self._lease, token, owner)
        name = netns_name(token)
        try:
            await _ip_batch_async(
                [
                    f"netns add {name}",
                    f"link add {host_end(token)} type veth peer name eth0 netns {name}",
                    # No IPv6 link-local addresses: their duplicate detection and
                    # multicast joins kept kernel workers busy in a burst of starts.
                    f"link set {host_end(token)} addrgenmode none",
                    f"link set {host_end(token)} master {BRIDGE} up",
                    f"link set dev {host_end(token)} type bridge_slave isolated on",
                ]
            )
            await _ip_batch_async(
                [
                    "link set eth0 addrgenmode none",
                    f"addr add {lease.address}/{SUBNET.prefixlen} dev eth0",
                    "link set eth0 up",
                    "link set lo up",
                    f"route add default via {BRIDGE_ADDRESS}",
                ],
                netns=name,
            )
        except BaseException:
            await self.detach(token)
            raise
        return str(NETNS_DIR / name)

    async def detach(self, token: str, *, ours: bool = True) -> None:
        """Remove sandbox ``token``'s namespace (its veth goes with it) and lease; not
        ``ours``: a sandbox of another process, whose lease is looked for."""
        await anyio.to_thread.run_sync(self._detach, token, ours)

    def _detach(self, token: str, ours: bool) -> None:
        if ours and token not in self._mine:
            return  # no network: neither namespace nor lease
        _delete_netns(netns_name(token))
        if Path(f"/sys/class/net/{host_end(token)}").exists():  # a namespace half made
            subprocess.run(["ip", "link", "delete", host_end(token)], capture_output=True)
        address = self._mine.pop(token, None)
        if address is not None:
            addresses = [address]
        else:  # a sandbox of another (dead) process
            addresses = [x.address for x in self.leases() if x.token == token]
        for each in addresses:
            with contextlib.suppress(FileNotFoundError):
                (self._leases / str(each)).unlink()

    def leases(self) -> list[Lease]:
        """Blocking: the addresses leased on this node, and to whom."""
        found = []
        for entry in os.scandir(self._leases):
            with contextlib.suppress(OSError, ValueError):
                token, owner = Path(entry.path).read_text().split()
                found.append(Lease(ipaddress.IPv4Address(entry.name), token, owner))
        return found

    def _lease(self, token: str, owner: str) -> Lease:
        hosts = SUBNET.num_addresses - 3  # the network, the bridge, the broadcast
        for _ in range(64):
            address = SUBNET.network_address + 2 + random.randrange(hosts)
            try:
                fd = os.open(self._leases / str(address), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as out:
                out.write(f"{token} {owner}\n")
            self._mine[token] = address
            return Lease(address, token, owner)
        raise BackendError(f"no free address left on {SUBNET} for a sandbox")


def _ip_batch(commands: list[str], *, netns: str | None = None, may_exist: bool = False) -> None:
    args = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    done = subprocess.run(args, input="\n".join(commands) + "\n", capture_output=True, text=True)
    if done.returncode != 0 and not (may_exist and "File exists" in done.stderr):
        raise BackendError(f"ip {'; '.join(commands)}: {done.stderr.strip()}")


async def _ip_batch_async(commands: list[str], *, netns: str | None = None) -> None:
    # Spawned from a thread: a fork and exec on the event loop holds it.
    await anyio.to_thread.run_sync(lambda: _ip_batch(commands, netns=netns))


def _delete_netns(name: str) -> None:
    """What ``ip netns delete`` does, without spawning it: the namespace's bind mount
    detached and its file removed (the veth goes once nothing holds the namespace)."""
    path = NETNS_DIR / name
    if not path.exists():
        return
    if _libc.umount2(str(path).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # not mounted: a half-made one
            raise BackendError(f"cannot unmount {path}: {os.strerror(err)}")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _iptables_ensure(table: str, chain: str, rule: list[str]) -> None:
    check = subprocess.run(["iptables", "-t", table, "-C", chain, *rule], capture_output=True)
    if check.returncode == 0:
        return
    done = subprocess.run(
        ["iptables", "-t", table, "-I", chain, "1", *rule], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BackendError(
            f"iptables -t {table} -I {chain} {' '.join(rule)}: {done.stderr.strip()}"
        )
