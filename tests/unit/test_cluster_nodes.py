"""Nodes of a cluster: the URL a node advertises by default, which rows are live, and
the signature of node-to-node calls (right, wrong, stale)."""

from __future__ import annotations

import json

import pytest

from faas.cluster import nodes, signatures
from faas.cluster.nodes import Node

ADDRESSES = ["127.0.1.1", "10.0.3.7", "fd00::7"]


@pytest.mark.parametrize(
    ("host", "addresses", "url"),
    [
        pytest.param("127.0.0.1", ADDRESSES, "http://127.0.0.1:8080", id="loopback"),
        pytest.param("localhost", ADDRESSES, "http://127.0.0.1:8080", id="localhost"),
        pytest.param("::1", ADDRESSES, "http://127.0.0.1:8080", id="ipv6 loopback"),
        pytest.param("10.0.3.9", ADDRESSES, "http://10.0.3.9:8080", id="one address"),
        pytest.param("fd00::9", ADDRESSES, "http://[fd00::9]:8080", id="one ipv6 address"),
        pytest.param("0.0.0.0", ADDRESSES, "http://10.0.3.7:8080", id="every address"),
        pytest.param("::", ["::1", "fd00::7"], "http://[fd00::7]:8080", id="every ipv6"),
        pytest.param("0.0.0.0", ["127.0.1.1"], "http://box1:8080", id="only loopback: name"),
        pytest.param("0.0.0.0", [], "http://box1:8080", id="no address: name"),
    ],
)
def test_the_default_advertised_url(host: str, addresses: list[str], url: str) -> None:
    # Given a server listening on host:8080 on the machine box1 with these addresses
    # Then its peers are told to reach it at
    assert nodes.default_advertise_url(host, 8080, "box1", addresses) == url


def test_only_nodes_whose_heartbeat_has_not_lapsed_are_live() -> None:
    # Given two nodes' rows, one of which last beat long ago
    rows = {
        "n2": nodes.record("http://10.0.0.2:8080", now=1000.0, ttl_s=15),
        "n1": nodes.record("http://10.0.0.1:8080", now=900.0, ttl_s=15),
    }
    # Then at 1005 only the recent one is live
    assert nodes.live_nodes(rows, now=1005.0) == [Node("n2", "http://10.0.0.2:8080", 1000.0)]
    # And a day later both are forgotten
    assert sorted(nodes.forgotten(rows, now=1000.0 + 86401)) == ["n1", "n2"]
    assert json.loads(rows["n2"])["lapses"] == 1015.0


SECRET = signatures.peer_secret(b"link secret of every node")
SHA = "ab" * 32


@pytest.mark.parametrize(
    ("secret", "subject", "signed_at", "checked_at", "ok"),
    [
        pytest.param(SECRET, SHA, 1000.0, 1000.5, True, id="right"),
        pytest.param(SECRET, SHA, 1000.0, 1059.0, True, id="within a minute"),
        pytest.param(b"another configuration", SHA, 1000.0, 1000.5, False, id="wrong secret"),
        pytest.param(SECRET, "cd" * 32, 1000.0, 1000.5, False, id="another bundle"),
        pytest.param(SECRET, SHA, 1000.0, 1061.0, False, id="stale"),
        pytest.param(SECRET, SHA, 1100.0, 1000.0, False, id="from the future"),
    ],
)
def test_a_peer_call_is_taken_only_when_signed_rightly_and_recently(
    secret: bytes, subject: str, signed_at: float, checked_at: float, ok: bool
) -> None:
    # Given a header signed by a node with `secret` for `subject` at `signed_at`
    header = signatures.sign(secret, subject, signed_at)
    # Then the node serving SHA checks it at `checked_at`
    assert signatures.verify(SECRET, SHA, header, checked_at) is ok


@pytest.mark.parametrize("header", ["", "garbage", "1000.", ".abc", "x.y"])
def test_a_malformed_signature_is_refused(header: str) -> None:
    assert signatures.verify(SECRET, SHA, header, 1000.0) is False


@pytest.mark.parametrize(
    ("open_server", "client", "signed", "allowed"),
    [
        pytest.param(False, "10.0.0.2", True, True, id="keys: a signed peer"),
        pytest.param(False, "127.0.0.1", False, False, id="keys: unsigned, even from loopback"),
        pytest.param(True, "127.0.0.1", False, True, id="no keys: loopback"),
        pytest.param(True, "::1", False, True, id="no keys: ipv6 loopback"),
        pytest.param(True, "10.0.0.2", True, False, id="no keys: another host"),
        pytest.param(True, "", False, False, id="no keys: unknown client"),
    ],
)
def test_who_may_call_a_nodes_internal_routes(
    open_server: bool, client: str, signed: bool, allowed: bool
) -> None:
    assert signatures.peer_allowed(open_server, client, signed) is allowed
