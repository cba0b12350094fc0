"""The Queues and topics and the Cluster pages: what they show from Redis's rows, and that
an invoke key is shown neither. Rendered from their templates, no server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from faas.cluster.census import RedisHealth, assemble
from gateway.console import tabs
from gateway.console.pages.cluster import by_state
from gateway.console.pages.queues import QueueRow, TopicRow, age
from gateway.edge.table import Role
from gateway.routes import ROUTES
from tests.unit.console_visitors import ADMIN, INVOKER, main_part, page

NOW = 1_700_000_000.0


def row(url: str, heartbeat: float, ttl: float = 15.0) -> str:
    return json.dumps({"url": url, "heartbeat": heartbeat, "lapses": heartbeat + ttl})


def test_nodes_have_their_processes_and_the_instances_the_directory_counts() -> None:
    nodes = assemble(
        rows={
            "a": row("http://10.0.0.1:8080", NOW - 2),
            "b": row("http://10.0.0.2:8080", NOW - 60),
        },
        owners={"a/serve": NOW + 13, "a/worker-1": NOW - 5, "b/serve": NOW - 45},
        members={"a/serve": "http://10.0.0.1:8080"},
        warm={"a/serve": 3, "b/serve": 1},
        now=NOW,
    )
    a, b = nodes
    assert (a.node_id, a.live, a.url, a.warm) == ("a", True, "http://10.0.0.1:8080", 3)
    assert [(p.owner, p.live, p.warm) for p in a.processes] == [
        ("serve", True, 3),
        ("worker-1", False, 0),
    ]
    assert a.processes[0].lapses_in_s == pytest.approx(13)
    assert (b.live, b.warm) == (False, 1)


def test_a_node_adds_up_its_live_processes_instances_by_state() -> None:
    (node,) = assemble(
        {"a": row("http://10.0.0.1:8080", NOW)},
        {"a/serve": NOW + 10, "a/worker-1": NOW + 10, "a/worker-2": NOW - 5},
        {},
        {},
        NOW,
        states={
            "a/serve": '{"starting": 0, "idle": 2, "busy": 1}',
            "a/worker-1": '{"idle": 1, "busy": 3}',
            "a/worker-2": '{"idle": 9}',  # lapsed: its last beat says nothing now
        },
    )
    assert [p.states for p in node.processes][:2] == [
        {"starting": 0, "idle": 2, "busy": 1},
        {"idle": 1, "busy": 3},
    ]
    assert node.states == {"starting": 0, "idle": 3, "busy": 4}


def test_processes_of_a_node_without_a_row_still_show() -> None:
    (node,) = assemble({}, {"c/worker-9": NOW + 5}, {}, {}, NOW)
    assert (node.node_id, node.live, node.url, node.heartbeat) == ("c", True, None, None)


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "—"), (12.7, "12 s"), (125, "2 min"), (7300, "2 h")]
)
def test_an_oldest_message_age_is_its_largest_unit(seconds: float, shown: str) -> None:
    assert age(seconds) == shown


@pytest.mark.parametrize("path", ["/ui/queues", "/ui/cluster"])
def test_the_pages_need_a_console_session(path: str) -> None:
    found = ROUTES.match("GET", path)
    assert found.role is Role.CONSOLE and found.route is not None and found.route.path == path
    assert ROUTES.match("POST", "/ui/queues/send").role is Role.CONSOLE


def test_an_invoke_key_has_no_link_to_the_accounts_pages() -> None:
    assert {p.path for p in tabs.PAGES if p.admin} == {"/ui/queues", "/ui/cluster"}
    header = page(INVOKER, "error.html", heading="x", message="y").split("</header>")[0]
    assert "/ui/queues" not in header and "/ui/cluster" not in header
    header = page(ADMIN, "error.html", heading="x", message="y").split("</header>")[0]
    assert 'href="/ui/queues"' in header and 'href="/ui/cluster"' in header


def test_the_queues_page_shows_depth_age_dead_letter_queue_and_readers() -> None:
    queues = [
        QueueRow("orders", False, 4, 1, 2, 125.0, "orders-dlq", 3, (), (("resize", True),)),
        QueueRow("orders-dlq", False, 0, 0, 0, 0.0, dead_letter_sources=("orders",)),
    ]
    topics = [TopicRow("news", 2, {"lambda": 1, "sqs": 1})]
    html = main_part(
        page(ADMIN, "queues.html", section="queues", queues=queues, topics=topics, age=age,
             saved="", errors={}, posted={})
    )  # fmt: skip
    assert '<td class="num">4</td>' in html and "2 min" in html
    assert 'href="#queue-orders-dlq"' in html and "after 3 receives" in html
    assert 'href="/ui/functions/resize/triggers"' in html
    assert 'action="/ui/queues/send"' in html and "lambda: 1, sqs: 1" in html


def cluster_page(**context: Any) -> str:
    nodes = assemble(
        {"a": row("http://127.0.0.1:8080", NOW)},
        {"a/serve": NOW + 10},
        {},
        {"a/serve": 2},
        NOW,
        states={"a/serve": '{"starting": 0, "idle": 1, "busy": 1}'},
    )
    here = {
        "member": "a/serve",
        "instances": 2,
        "by_state": {"starting": 0, "idle": 1, "busy": 1},
        "by_function": [("resize", 2)],
        "functions": 1,
        "pool_on": True,
        "pool_size": 2,
        "pool": [],
    }
    redis = RedisHealth(0.21, "7.0.15", 3 << 20, 0, "noeviction", 4, 7200, 42)
    return page(
        ADMIN, "cluster.html", section="cluster", nodes=nodes, redis=redis, here=here,
        node_id="a", backend="process", since=lambda epoch: "2 s ago", by_state=by_state,
        **context,
    )  # fmt: skip


def test_the_cluster_page_shows_nodes_instances_the_pool_and_redis() -> None:
    html = main_part(cluster_page())
    assert "http://127.0.0.1:8080" in html and "this node" in html and "this process" in html
    assert "<dt>idle</dt><dd" in html and 'href="/ui/functions/resize"' in html
    assert html.count("<td>1 idle, 1 busy</td>") == 2  # the node's row and its process's
    assert "7.0.15" in html and "0.21 ms" in html and "3.0 MB" in html and "2 h 0 min" in html
