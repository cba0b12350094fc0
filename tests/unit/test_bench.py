"""The benchmark suite's own logic: percentiles, wrk's output, targets, the report, the client."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from bench import httpraw, report
from bench.model import Result, Row
from bench.scenarios.async_events import from_json, parse_printed
from bench.stats import duration_ms, parse_wrk, percentile, ratio, summary
from bench.targets import TARGETS, Target, Verdict, evaluate, flatten, fmt
from tests.helpers import wait_until


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 50, 5.0),
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # order does not matter
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        (list(map(float, range(1, 101))), 99, 99.01),
        ([10.0, 20.0], 25, 12.5),
    ],
)
def test_percentile_interpolates_between_the_closest_ranks(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_refuses_what_has_no_answer(values: list[float], q: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, q)


def test_summary_gives_count_mean_and_the_percentiles() -> None:
    s = summary([1.0, 2.0, 3.0, 10.0])
    assert s["n"] == 4
    assert s["mean"] == 4.0
    assert (s["min"], s["max"]) == (1.0, 10.0)
    assert s["p50"] == 2.5


@pytest.mark.parametrize(
    ("project", "baseline", "expected"),
    [(2.0, 1.0, 2.0), (1.0, 4.0, 0.25), (None, 1.0, None), (1.0, None, None), (1.0, 0.0, None)],
)
def test_ratio_is_project_over_baseline_or_none(
    project: float | None, baseline: float | None, expected: float | None
) -> None:
    assert ratio(project, baseline) == expected


@pytest.mark.parametrize(
    ("text", "ms"),
    [("812.00us", 0.812), ("1.23ms", 1.23), ("2.01s", 2010.0), ("1.50m", 90_000.0)],
)
def test_wrk_durations_are_read_in_milliseconds(text: str, ms: float) -> None:
    assert duration_ms(text) == pytest.approx(ms)


WRK_CLEAN = """\
Running 10s test @ http://127.0.0.1:8080/v1/functions/noop/invoke
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.77ms    2.10ms  41.98ms   90.12%
    Req/Sec     3.66k   210.44     4.01k    80.00%
  Latency Distribution
     50%    8.41ms
     75%    9.20ms
     90%   10.50ms
     99%   17.96ms
  36452 requests in 10.01s, 5.84MB read
Requests/sec:   3641.72
Transfer/sec:    597.45KB
"""

WRK_ERRORS = """\
Running 3s test @ http://127.0.0.1:8080/v1/functions/noop/invoke
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us  100.00us   2.00s    90.00%
    Req/Sec     1.00k   100.00     1.20k    80.00%
  Latency Distribution
     50%  812.00us
     75%    1.00ms
     90%    1.50ms
     99%    1.20s
  3000 requests in 3.00s, 1.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 4
  Non-2xx or 3xx responses: 12
Requests/sec:   1000.00
Transfer/sec:    333.00KB
"""


def test_wrk_output_gives_rate_percentiles_and_no_errors() -> None:
    out = parse_wrk(WRK_CLEAN)
    assert out["requests"] == 36452
    assert out["duration_s"] == pytest.approx(10.01)
    assert out["requests_per_s"] == pytest.approx(3641.72)
    assert out["p50_ms"] == pytest.approx(8.41)
    assert out["p99_ms"] == pytest.approx(17.96)
    assert out["errors"] == 0


def test_wrk_errors_are_non_2xx_plus_socket_errors() -> None:
    out = parse_wrk(WRK_ERRORS)
    assert out["non_2xx"] == 12
    assert (out["socket_read"], out["socket_write"], out["socket_timeout"]) == (2, 1, 4)
    assert out["errors"] == 19
    assert out["p50_ms"] == pytest.approx(0.812)
    assert out["p99_ms"] == pytest.approx(1200.0)


def test_wrk_output_without_a_count_is_refused() -> None:
    with pytest.raises(ValueError, match="request count"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


AT_MOST_1 = Target("warm.added_p50_ms", "<=", 1.0, "ms", "adds at most 1 ms")
UNDER_200 = Target("footprint.gateway_loaded_rss_mb", "<", 200.0, "MB", "under 200 MB")
AT_LEAST = Target("async.events_per_s", ">=", 1000.0, "/s", "events/s")
NONE = Target("burst.failures", "==", 0.0, "", "no failures")


@pytest.mark.parametrize(
    ("target", "value", "status"),
    [
        (AT_MOST_1, 0.99, "PASS"),
        (AT_MOST_1, 1.0, "PASS"),  # the bound itself passes "at most"
        (AT_MOST_1, 1.01, "FAIL"),
        (UNDER_200, 199.9, "PASS"),
        (UNDER_200, 200.0, "FAIL"),  # "under" is strict
        (AT_LEAST, 1000.0, "PASS"),
        (AT_LEAST, 999.0, "FAIL"),
        (NONE, 0.0, "PASS"),
        (NONE, 1.0, "FAIL"),
        (AT_MOST_1, None, "MISSING"),  # not measured is never a pass
    ],
)
def test_a_target_passes_fails_or_is_missing(
    target: Target, value: float | None, status: str
) -> None:
    assert Verdict(target, value).status == status


def test_evaluate_finds_each_target_by_its_figure_name() -> None:
    figures = flatten({"warm": {"added_p50_ms": 0.4}, "async": {"events_per_s": 10.0}})
    verdicts = evaluate([AT_MOST_1, AT_LEAST, UNDER_200], figures)
    assert [v.status for v in verdicts] == ["PASS", "FAIL", "MISSING"]
    assert verdicts[1].line() == ("FAIL    async: events/s (≥ 1,000 /s; measured 10 /s)")


def test_the_issue_targets_are_all_there_once() -> None:
    figures = [t.figure for t in TARGETS]
    assert len(figures) == len(set(figures))
    assert {t.scenario for t in TARGETS} == {
        "warm",
        "throughput",
        "cold",
        "burst",
        "async",
        "footprint",
        "scale",
        "lambda_api",
        "node",
        "mappings",
        "queues",
        "workers",
        "new_functions",
        "cluster",
        "console",
    }
    by_figure = {t.figure: t for t in TARGETS}
    # Issue 23: every console page under 200 ms of server time with 1,000 functions.
    slowest = by_figure["console.slowest_p50_ms"]
    assert (slowest.op, slowest.threshold) == ("<", 200.0)
    # Issue 22: two worker processes on this machine's 2 cores.
    assert by_figure["workers.c32_invokes_per_s"].threshold == 6000.0
    assert (by_figure["warm.added_p99_ms"].op, by_figure["warm.added_p99_ms"].threshold) == (
        "<=",
        3.0,
    )
    assert by_figure["throughput.c32_invokes_per_s"].threshold == 3000.0
    assert by_figure["cold.p99_ms"].threshold == 250.0
    assert by_figure["scale.p50_ratio"].threshold == pytest.approx(1.10)
    assert by_figure["lambda_api.added_p50_ms"].threshold == pytest.approx(0.15)
    # Issue 20: Node.js beside Python.
    assert by_figure["node.cold_p50_ms"].threshold == 40.0
    assert by_figure["node.added_p50_ms"].threshold == 1.0
    assert by_figure["node.instance_pss_mb"].threshold == 40.0
    # Issue 22: new functions at once on one node, against docker runs in the same run.
    assert by_figure["new_functions.pool_empty_ratio"].threshold == pytest.approx(1.2)
    assert by_figure["new_functions.burst_all_answered_s"].threshold == 8.0
    assert by_figure["new_functions.burst_speedup"].threshold == 2.0
    # Issue 22: three nodes: warm routing's share, and what a forward and a lease add.
    assert by_figure["cluster.warm_share_pct"].threshold == 95.0
    assert by_figure["cluster.capped_p50_ms"].threshold == 1.5
    # Issue 21: queues.
    assert (by_figure["queues.ingest_per_s"].op, by_figure["queues.ingest_per_s"].threshold) == (
        ">=",
        20000.0,
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1234, "0.123"),
        (1.234, "1.23"),
        (12.34, "12.3"),
        (123.4, "123"),
        (3641.7, "3,642"),
        (0, "0"),
    ],
)
def test_figures_are_shown_with_three_significant_digits(value: float, text: str) -> None:
    assert fmt(value) == text


def sample_results() -> list[Result]:
    warm = Result("warm", "1. Warm overhead")
    warm.row("invoke p50", "ms", "gateway_p50_ms", 1.2, baseline=0.3, baseline_label="direct")
    warm.row("added p50", "ms", "added_p50_ms", 0.9, chart=False)
    warm.row("speed-up", "x", "speedup_vs_sam", 18.3, chart=False)
    burst = Result("burst", "4. Burst", error="RuntimeError: no server")
    return [warm, burst]


def test_the_table_puts_each_target_on_its_row_and_shows_errors() -> None:
    results = sample_results()
    figures = flatten({r.name: r.figures for r in results})
    verdicts = evaluate([t for t in TARGETS if t.scenario in ("warm", "burst")], figures)
    rows = report.table_rows(results, verdicts)
    assert rows[0] == [
        "warm",
        "invoke p50",
        "0.300 ms (direct)",
        "1.20 ms",
        "4x",
        "≤ 1.50 ms",
        "PASS",
    ]
    assert rows[1][1:] == ["added p50", "", "0.900 ms", "", "≤ 1 ms", "PASS"]
    assert rows[2][3:] == ["18.3x", "", "≥ 14x", "PASS"]
    assert rows[3] == ["burst", "ERROR: RuntimeError: no server", "", "", "", "", "ERROR"]
    text = report.text_table(rows)
    assert text.splitlines()[0].split() == list(report.COLUMNS)
    statuses = {v.target.figure: v.status for v in verdicts}
    assert statuses["burst.all_answered_s"] == "MISSING"
    assert statuses["warm.added_p99_ms"] == "MISSING"


def test_markdown_and_json_carry_the_machine_the_table_and_the_verdicts(tmp_path: Path) -> None:
    results = sample_results()
    verdicts = evaluate(TARGETS[:1], flatten({r.name: r.figures for r in results}))
    machine = {"cpu_model": "Test CPU", "cores": 2, "git_commit": "abc123"}
    run = {"date": "2025-01-01 00:00:00 UTC", "quick": True, "seconds": 12.0}
    md = report.markdown(results, verdicts, machine, run)
    assert "Test CPU, 2 cores" in md
    assert "| warm | invoke p50 | 0.300 ms (direct) | 1.20 ms | 4x |  |  |" in md
    assert "PASS    warm: the gateway adds at most 1 ms at p50" in md
    doc = json.loads(report.as_json(results, verdicts, machine, run))
    assert doc["machine"]["git_commit"] == "abc123"
    assert doc["figures"]["warm.gateway_p50_ms"] == 1.2
    assert doc["targets"][0]["status"] == "PASS"
    back = Result.from_json(doc["scenarios"]["warm"])
    assert back.rows[0] == Row(
        "invoke p50", "ms", 1.2, baseline=0.3, baseline_label="direct", key="gateway_p50_ms"
    )


def test_a_chart_panel_shows_the_pairs_in_the_unit_of_the_first() -> None:
    result = Result("throughput", "2. Throughput")
    result.row("c=1 invokes/s", "/s", "c1", 900.0, baseline=2000.0)
    result.row("c=1 p50", "ms", "c1_p50", 1.0, baseline=0.4)
    result.row("c=8 invokes/s", "/s", "c8", 2500.0, baseline=4000.0)
    result.row("no baseline", "/s", "x", 1.0)
    result.row("not charted", "/s", "y", 1.0, baseline=2.0, chart=False)
    assert [r.figure for r in report.chart_pairs(result)] == ["c=1 invokes/s", "c=8 invokes/s"]


def test_the_chart_is_written_as_a_png(tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    report.chart(sample_results(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_async_figures_are_read_from_json_or_from_the_printed_report() -> None:
    doc = {"events": 2000, "async_events_per_s": 1234.5, "enqueue_p50_ms": 0.9, "note": "x"}
    assert from_json(doc) == {"events": 2000.0, "events_per_s": 1234.5, "enqueue_p50_ms": 0.9}
    printed = """\
  baseline GET /healthz p50            2.40 ms
  enqueue (202) p50                    9.97 ms   ratio 4.15x baseline
  enqueue (202) p99                  107.00 ms
  baseline sync invokes               113.0 /s
  async end to end                     73.0 /s   ratio 0.65x baseline
"""
    assert parse_printed(printed) == {
        "events_per_s": 73.0,
        "sync_invokes_per_s": 113.0,
        "enqueue_p50_ms": 9.97,
        "enqueue_p99_ms": 107.0,
        "healthz_p50_ms": 2.4,
    }


class CannedServer:
    """A Unix socket serving canned replies: one list per connection, closed after its last."""

    def __init__(self, path: Path, connections: list[list[bytes]]) -> None:
        self.requests: list[bytes] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen()
        self._connections = connections
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for replies in self._connections:
            conn, _ = self._listener.accept()
            with conn:
                for reply in replies:
                    self._answer(conn, reply)

    def _answer(self, conn: socket.socket, reply: bytes) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += conn.recv(65536)
        self.requests.append(data)
        # Split the reply so the client must read more than once.
        middle = len(reply) // 2
        conn.sendall(reply[:middle])
        conn.sendall(reply[middle:])

    def close(self) -> None:
        self._thread.join(5)
        self._listener.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Faas-Cold-Start: true\r\n\r\nnull"


def test_the_raw_client_reads_length_and_chunked_replies_on_one_connection(
    tmp_path: Path,
) -> None:
    sock = tmp_path / "s.sock"
    chunked = (
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
    )
    server = CannedServer(sock, [[OK, chunked]])
    with httpraw.RawClient(unix=str(sock)) as client:
        first = client.request("POST", "/invoke", {"X-Request-Id": "r1"}, b"{}")
        second = client.request("GET", "/health")
    server.close()
    assert (first.status, first.body, first.headers["x-faas-cold-start"]) == (200, b"null", "true")
    assert (second.status, second.body) == (404, b"abcde")
    assert server.requests[0] == (
        b"POST /invoke HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: r1\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )


@pytest.mark.parametrize("check_first", [True, False], ids=["fresh", "retry"])
def test_a_keep_alive_connection_the_server_closed_is_reopened(
    tmp_path: Path, check_first: bool
) -> None:
    sock = tmp_path / "s.sock"
    # The server answers once, closes (its idle timeout), then takes a new connection.
    server = CannedServer(sock, [[OK], [OK]])
    with httpraw.RawClient(unix=str(sock)) as client:
        assert client.request("GET", "/health").status == 200
        server.requests.clear()
        wait_until(lambda: _closed(client), what="the server's FIN on the client's socket")
        if check_first:
            client.fresh()
        assert client.request("GET", "/health").status == 200
    server.close()
    assert len(server.requests) == 1


def _closed(client: httpraw.RawClient) -> bool:
    """Whether the client's socket has seen the server's FIN (without consuming anything)."""
    import select

    sock = client._sock
    return sock is not None and bool(select.select([sock], [], [], 0.01)[0])


def test_the_raw_client_refuses_what_is_not_http() -> None:
    with pytest.raises(ValueError, match="not an HTTP response"):
        httpraw.parse_head(b"SSH-2.0-OpenSSH")
    with pytest.raises(ValueError):
        httpraw.RawClient()
