"""Nodes of the cluster: each ``faas serve`` advertises the URL its peers reach it at.

The row of a node (``keys.NODES``: node id -> JSON ``{url, heartbeat, lapses}``) is
written by the heartbeat that already keeps its processes alive
(``faas.compute.owners.Owners.beat``, in the same pipeline): one heartbeat, not two.
A node whose row has lapsed is not live; its row stays until a day has passed, so
``/v1/nodes`` can be asked about a node that just died without a second key.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from faas import keys, store
from faas.settings import Settings

_WILDCARDS = ("", "0.0.0.0", "::")
# A node silent this long is forgotten (its row deleted) by the next node's heartbeat.
FORGET_AFTER_S = 86400.0


@dataclass(frozen=True)
class Node:
    """A live node: its id, the URL its peers reach it at, its last heartbeat (epoch s)."""

    node_id: str
    url: str
    heartbeat: float


def default_advertise_url(host: str, port: int, hostname: str, addresses: Sequence[str]) -> str:
    """The URL peers reach a node at when ``FAAS_ADVERTISE_URL`` is not set.

    Listening on loopback: loopback (only peers on this host can reach it anyway).
    Listening on one address: that address. Listening on every address: the host's
    first non-loopback address (a container's or pod's address is what its peers can
    reach; its name often does not resolve for them), else its name.
    """
    if host == "localhost" or _is_loopback(host):
        return f"http://127.0.0.1:{port}"
    if host not in _WILDCARDS:
        return f"http://{_bracketed(host)}:{port}"
    for address in addresses:
        if not _is_loopback(address):
            return f"http://{_bracketed(address)}:{port}"
    return f"http://{hostname}:{port}"


def advertise_url(settings: Settings) -> str:
    """``FAAS_ADVERTISE_URL``, or the default for this host (its name and addresses read here)."""
    if settings.advertise_url:
        return settings.advertise_url.rstrip("/")
    hostname = socket.gethostname()
    addresses: list[str] = []
    if settings.host in _WILDCARDS:
        try:
            infos = socket.getaddrinfo(hostname, None, proto=socket.IPPROTO_TCP)
        except OSError:
            infos = []
        addresses = [str(info[4][0]) for info in infos]
    return default_advertise_url(settings.host, settings.port, hostname, addresses)


def record(url: str, now: float, ttl_s: float) -> str:
    """A node's row as the heartbeat writes it."""
    return json.dumps({"url": url, "heartbeat": now, "lapses": now + ttl_s})


def live_nodes(rows: dict[str, str], now: float) -> list[Node]:
    """The nodes whose heartbeat has not lapsed, by id."""
    found = []
    for node_id, raw in sorted(rows.items()):
        row = json.loads(raw)
        if row["lapses"] > now:
            found.append(Node(node_id, row["url"], row["heartbeat"]))
    return found


def forgotten(rows: dict[str, str], now: float) -> list[str]:
    """Ids of nodes silent for longer than ``FORGET_AFTER_S``."""
    return [n for n, raw in rows.items() if json.loads(raw)["heartbeat"] < now - FORGET_AFTER_S]


class Nodes:
    """The cluster's nodes, as their heartbeats left them in Redis."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def live(self) -> list[Node]:
        async with store.redis_errors():
            raw = await self._redis.hgetall(keys.NODES)
            rows = {_text(k): _text(v) for k, v in raw.items()}
            now = time.time()
            if gone := forgotten(rows, now):
                await self._redis.hdel(keys.NODES, *gone)
        return live_nodes(rows, now)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
