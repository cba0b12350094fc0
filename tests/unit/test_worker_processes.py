"""The supervisor's decisions (``faas.cli.workers``) and a worker's own URL
(``gateway.edge.listeners``), as tables."""

from __future__ import annotations

import pytest

from faas.cli.workers import RESTART_MAX_S, owner_of, restart_delay
from gateway.edge.listeners import own_url


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        (0, 0.0),  # it had run a while: started again at once
        (1, 0.5),
        (2, 1.0),
        (3, 2.0),
        (6, 16.0),
        (7, RESTART_MAX_S),
        (50, RESTART_MAX_S),
    ],
)
def test_a_worker_dying_again_and_again_waits_longer_each_time(failures: int, delay: float) -> None:
    assert restart_delay(failures) == delay


def test_a_worker_keeps_its_owner_id_across_restarts() -> None:
    assert [owner_of(i) for i in range(3)] == ["serve-0", "serve-1", "serve-2"]


@pytest.mark.parametrize(
    ("node_url", "port", "url"),
    [
        ("http://127.0.0.1:8080", 41234, "http://127.0.0.1:41234"),
        ("http://10.0.0.7:8080", 9001, "http://10.0.0.7:9001"),
        ("http://node-a.internal:8080/", 9002, "http://node-a.internal:9002"),
        # a proxy's https URL for the node: the worker's own port is its plain HTTP
        ("https://faas.example.com/lambda", 9003, "http://faas.example.com:9003"),
        ("http://[fd00::7]:8080", 9004, "http://[fd00::7]:9004"),
    ],
)
def test_a_worker_is_reached_at_the_nodes_host_on_its_own_port(
    node_url: str, port: int, url: str
) -> None:
    assert own_url(node_url, port) == url
