"""Console: the server time of every page of the web console with the functions registered,
and what a Monitor tab polling its charts costs a warm invoke.

The run's server, after the registration step (``plan.functions`` functions, 1,000 in a
full run), gets a function of its own that logs a line (``console-demo``), invoked
sync and async so its stats, logs and async invocations are not empty, and a few of
the registered functions are invoked once so the list's first page has stats too.
The scenario logs in with the run's admin key as a browser does (the login form's
CSRF cookie and field, then the session cookie).

- **Pages**: every ``GET`` row of ``gateway.routes.CONSOLE_ROWS``, read at run time
  (a page added later is measured without a change here), ``{name}`` filled with
  ``console-demo``; a few rows also with the query a user sends (a search, a later
  page, the 24 h window). Not pages: the assets and the catch-all (``{path:path}``),
  the code download (a zip). The logs tail (server-sent events) is timed on its own:
  from the request until its history is sent (``event: live``), a new connection a
  sample. Every page is asked once a round, round after round (``PAGE_ROUNDS``,
  after ``WARM_ROUNDS``), with ``GET /healthz`` and ``GET /v1/functions`` (the API's
  list of every function, the same data as the console's list) as baselines in the
  same rounds, on one keep-alive connection: the time from the request to its last
  byte, over loopback.
- **Invokes while a Monitor tab polls**: warm invokes of the no-op function,
  sequential, in blocks of ``BLOCK_S`` (the Monitor tab's refresh), alternately with
  one poll of the demo function's charts at the block's start (on another connection,
  at the same time) and with none.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpx

from bench import httpraw
from bench.harness import Harness, Plan
from bench.model import Result
from bench.scenarios.warm import timed
from bench.stats import percentile, summary
from gateway.edge.table import Route

DEMO = "console-demo"
DEMO_SOURCE = (
    "def handler(event, context):\n"
    '    print("[INFO] handled", context.aws_request_id)\n'
    '    return {"ok": True}\n'
)
INVOKED = "noop"  # the run's no-op function, warm since setup
SYNC_CALLS, ASYNC_CALLS, REGISTERED_CALLED = 200, 20, 10
WARM_ROUNDS = 3
BLOCK_S = 5.0  # the Monitor tab redraws its charts every 5 s

# Rows that are not a page: the code download is a zip; the tail is timed on its own.
NOT_PAGES = frozenset({"/ui/functions/{name}/code.zip", "/ui/functions/{name}/logs/tail"})
TAIL = "/ui/functions/{name}/logs/tail"
POLLED = "/ui/functions/{name}/monitor/charts"
# What a row is asked with: its bare path unless said here ("" is the bare path).
QUERIES: Mapping[str, tuple[str, ...]] = {
    "/ui/functions": ("", "?q=99", "?page=10"),
    "/ui/functions/{name}/monitor": ("", "?window=24h"),
    "/ui/functions/{name}/monitor/charts": ("", "?window=24h"),
    # Without a request id it is the "no such invocation" answer.
    "/ui/functions/{name}/test/invocation": ("?request_id={request_id}",),
    "/ui/functions/{name}/test/template": ("", "?template=sqs"),
}
BASELINES = ("/healthz", "/v1/functions")


def page_templates(rows: Iterable[Route]) -> list[str]:
    """The console pages to time, as path templates with their query: every GET row but
    the assets and catch-all (``{...:path}``) and ``NOT_PAGES``, each with its ``QUERIES``."""
    out: list[str] = []
    for row in rows:
        path = row.path
        if "GET" not in row.methods.split() or ":path}" in path or path in NOT_PAGES:
            continue
        out += [path + query for query in QUERIES.get(path, ("",))]
    return out


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{param}`` replaced; a parameter without a value: KeyError."""
    return re.sub(r"{(\w+)}", lambda m: values[m[1]], template)


def slug(template: str) -> str:
    """A figure's name for a page: ``/ui/functions/{name}/monitor?window=24h`` ->
    ``functions_name_monitor_window_24h``; ``/ui`` -> ``home``."""
    words = re.findall(r"[a-z0-9]+", template.lower().removeprefix("/ui"))
    return "_".join(words) or "home"


@dataclass
class Timing:
    """One page's samples (ms) and the statuses it answered."""

    path: str
    samples: list[float]
    statuses: set[int]

    @property
    def failed(self) -> bool:
        return any(s >= 400 for s in self.statuses)


def login(h: Harness) -> str:
    """A console session of the admin key, logged in through the form; its cookie header."""
    from gateway.console.session import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE

    with httpx.Client(base_url=h.client().base_url, timeout=30) as browser:
        browser.get("/ui/login").raise_for_status()
        token = browser.cookies[CSRF_COOKIE]
        reply = browser.post(
            "/ui/login", data={"key": h.admin_key, CSRF_FIELD: token, "next": "/ui/functions"}
        )
        if reply.status_code != 303 or SESSION_COOKIE not in reply.cookies:
            raise RuntimeError(f"login answered {reply.status_code}: {reply.text[:300]}")
        return f"{SESSION_COOKIE}={reply.cookies[SESSION_COOKIE]}"


def prepare(h: Harness, fresh: list[str]) -> str:
    """The demo function deployed and invoked; a few registered ones invoked once.
    Returns the request id of one of the demo's async invocations."""
    h.upload(DEMO, DEMO_SOURCE)
    api = h.client()
    for _ in range(SYNC_CALLS):
        api.post(f"/v1/functions/{DEMO}/invoke", json={"n": 1}).raise_for_status()
    request_id = ""
    for _ in range(ASYNC_CALLS):
        reply = api.post(
            f"/v1/functions/{DEMO}/invoke", json={}, headers={"X-Faas-Invocation-Type": "Event"}
        )
        reply.raise_for_status()
        request_id = reply.json()["requestId"]

    def once(client: httpx.Client, name: str) -> None:
        client.post(f"/v1/functions/{name}/invoke", json={}).raise_for_status()

    h.fan_out(fresh[:REGISTERED_CALLED], 4, once)
    time.sleep(2)  # the stats reach Redis once a second; the async calls end
    return request_id


def time_pages(h: Harness, requests: Mapping[str, bytes], rounds: int) -> dict[str, Timing]:
    """Each request once a round for ``rounds`` rounds (after ``WARM_ROUNDS``), in ms."""
    out = {p: Timing(p, [], set()) for p in requests}
    clock = time.perf_counter
    with h.gateway() as gw:
        for n in range(WARM_ROUNDS + rounds):
            for path, raw in requests.items():
                gw.fresh()
                started = clock()
                reply = gw.send(raw)
                took = (clock() - started) * 1000
                if n >= WARM_ROUNDS:
                    out[path].samples.append(took)
                    out[path].statuses.add(reply.status)
    return out


def time_tail(h: Harness, path: str, cookie: str, rounds: int) -> list[float]:
    """From a tail's request until its history is sent (``event: live``), in ms: a new
    connection a sample (connected before the clock starts), closed after."""
    raw = httpraw.build("GET", path, {"Cookie": cookie, "Accept": "text/event-stream"})
    out = []
    for n in range(WARM_ROUNDS + rounds):
        with socket.create_connection(("127.0.0.1", h.port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(30)
            started = time.perf_counter()
            sock.sendall(raw)
            buf = b""
            while b"event: live" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError(f"the tail closed before its history: {buf[:300]!r}")
                buf += chunk
            took = (time.perf_counter() - started) * 1000
            if not buf.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"the tail answered {buf[:300]!r}")
        if n >= WARM_ROUNDS:
            out.append(took)
    return out


def invokes_polled(
    h: Harness, poll_path: str, cookie: str, rounds: int
) -> tuple[list[list[float]], list[list[float]], list[float]]:
    """Warm invokes (ms) in blocks of ``BLOCK_S``, a list a block: without polls, and with
    one poll of ``poll_path`` at each block's start; the polls' own times. Quiet and
    polled blocks alternate, their order swapped each round."""
    invoke = h.invoke_request(INVOKED)
    poll = httpraw.build("GET", poll_path, {"Cookie": cookie})
    quiet: list[list[float]] = []
    polled: list[list[float]] = []
    polls: list[float] = []
    answers: list[int] = []

    def poll_once(viewer: httpraw.RawClient) -> None:
        viewer.fresh()
        started = time.perf_counter()
        reply = viewer.send(poll)
        polls.append((time.perf_counter() - started) * 1000)
        answers.append(reply.status)

    with h.gateway() as gw, h.gateway() as viewer:
        timed(gw, [invoke] * 200)
        poll_once(viewer)
        for n in range(rounds):
            for polling in (False, True) if n % 2 == 0 else (True, False):
                poller = threading.Thread(target=poll_once, args=(viewer,))
                if polling:
                    poller.start()
                end = time.perf_counter() + BLOCK_S
                block: list[float] = []
                while time.perf_counter() < end:
                    block += timed(gw, [invoke] * 50)
                if polling:
                    poller.join()
                (polled if polling else quiet).append(block)
    if set(answers) != {200} or len(answers) != rounds + 1:
        raise RuntimeError(f"{poll_path} answered {answers}")
    return quiet, polled, polls


def block_median(blocks: list[list[float]], q: float) -> float:
    """The median over blocks of each block's ``q``-th percentile: one block that the
    machine slowed (another process's burst) moves it less than a percentile of all."""
    return percentile([percentile(b, q) for b in blocks], 50)


def run(h: Harness, plan: Plan, result: Result, fresh: list[str]) -> None:
    from gateway.routes import CONSOLE_ROWS

    rounds = 10 if plan.quick else 30
    poll_rounds = 2 if plan.quick else 6
    request_id = prepare(h, fresh)
    registered = h.function_count()
    cookie = login(h)
    values = {"name": DEMO, "request_id": request_id}
    templates = page_templates(CONSOLE_ROWS)
    pages = {fill(t, values): t for t in templates}
    requests = {p: httpraw.build("GET", p, {"Cookie": cookie}) for p in pages}
    requests["/healthz"] = httpraw.build("GET", "/healthz")
    requests["/v1/functions"] = httpraw.build(
        "GET", "/v1/functions", {"Authorization": f"Bearer {h.admin_key}"}
    )
    timings = time_pages(h, requests, rounds)
    tail = time_tail(h, fill(TAIL, values), cookie, rounds)
    quiet, polled, polls = invokes_polled(h, fill(POLLED, values), cookie, poll_rounds)
    report(result, registered, rounds, pages, timings, tail, (quiet, polled, polls))


def report(
    result: Result,
    registered: int,
    rounds: int,
    pages: Mapping[str, str],
    timings: Mapping[str, Timing],
    tail: list[float],
    invokes: tuple[list[list[float]], list[list[float]], list[float]],
) -> None:
    f = result.figures
    base = {path: summary(timings[path].samples) for path in BASELINES}
    listing = base["/v1/functions"]
    label = f"GET /v1/functions ({registered} functions)"
    f["functions"] = float(registered)
    for path, stats in base.items():
        f[f"{slug(path)}_p50_ms"] = stats["p50"]
        f[f"{slug(path)}_p99_ms"] = stats["p99"]
    measured = {path: summary(timings[path].samples) for path in pages}
    failed = sorted(p for p in pages if timings[p].failed)
    for path, template in pages.items():
        s = measured[path]
        key = slug(template)
        f[f"{key}_p50_ms"], f[f"{key}_p99_ms"] = s["p50"], s["p99"]
        answered = sorted(timings[path].statuses)
        status = "" if answered == [200] else f", HTTP {'/'.join(map(str, answered))}"
        result.row(
            f"{template} p50 (p99 {s['p99']:.1f} ms{status})",
            "ms",
            "",
            s["p50"],
            baseline=listing["p50"],
            baseline_label=label,
            chart=False,
        )
    ok = [p for p in pages if p not in failed]
    slowest = max(ok, key=lambda p: measured[p]["p50"])
    result.row(
        f"slowest page p50 ({pages[slowest]})",
        "ms",
        "slowest_p50_ms",
        measured[slowest]["p50"],
        baseline=listing["p50"],
        baseline_label=label,
    )
    worst99 = max(ok, key=lambda p: measured[p]["p99"])
    result.row(
        f"slowest page p99 ({pages[worst99]})",
        "ms",
        "slowest_p99_ms",
        measured[worst99]["p99"],
        baseline=listing["p99"],
        baseline_label=label,
    )
    lists = measured["/ui/functions"]
    result.row(
        "functions list p50",
        "ms",
        "functions_p50_ms",
        lists["p50"],
        baseline=listing["p50"],
        baseline_label=label,
    )
    result.row("GET /healthz p50 (baseline)", "ms", "", base["/healthz"]["p50"], chart=False)
    t = summary(tail)
    f["tail_history_p50_ms"], f["tail_history_p99_ms"] = t["p50"], t["p99"]
    result.row(
        f"logs tail until its history is sent, p50 (p99 {t['p99']:.1f} ms)",
        "ms",
        "",
        t["p50"],
        baseline=listing["p50"],
        baseline_label=label,
        chart=False,
    )
    result.row("pages answering 4xx/5xx", "", "failed_pages", float(len(failed)), chart=False)

    quiet, polled, polls = invokes
    q50, q99 = block_median(quiet, 50), block_median(quiet, 99)
    p50, p99 = block_median(polled, 50), block_median(polled, 99)
    f.update(
        {
            "invoke_quiet_p50_ms": q50,
            "invoke_quiet_p99_ms": q99,
            "invoke_polled_p50_ms": p50,
            "invoke_polled_p99_ms": p99,
            "poll_p50_ms": percentile(polls, 50),
        }
    )
    label = "the same server, no console open"
    for stat, project, baseline in (("p50", p50, q50), ("p99", p99, q99)):
        result.row(
            f"warm invoke {stat}, a Monitor tab polling",
            "ms",
            "",
            project,
            baseline=baseline,
            baseline_label=label,
            chart=False,
        )
    result.row("invoke p50 ratio, polled vs not", "x", "invoke_p50_ratio", p50 / q50, chart=False)
    result.row("invoke p99 ratio, polled vs not", "x", "invoke_p99_ratio", p99 / q99, chart=False)

    result.notes.append(
        f"{len(pages)} console pages (every GET row of gateway.routes.CONSOLE_ROWS but the "
        f"assets, the catch-all and the code download; some also with a query) of the function "
        f"{DEMO} on a server with {registered} functions, logged in with the admin key: each "
        f"page once a round for {rounds} rounds after {WARM_ROUNDS}, with GET /healthz and "
        "GET /v1/functions in the same rounds, on one keep-alive connection; the time from the "
        "request to the last byte"
    )
    if failed:
        shown = ", ".join(f"{pages[p]} ({sorted(timings[p].statuses)})" for p in failed)
        result.notes.append(f"pages that answered an error (not counted as slowest): {shown}")
    result.notes.append(
        "logs tail: a new connection a sample, timed from the request until its history "
        "(the last 50 records) is sent (event: live)"
    )
    result.notes.append(
        f"invokes: sequential warm no-op invokes in blocks of {BLOCK_S:.0f} s, alternating "
        f"with and without one poll of {POLLED} at the block's start (what an open Monitor "
        f"tab asks every {BLOCK_S:.0f} s; a poll takes {percentile(polls, 50):.1f} ms p50), "
        f"{len(quiet)} blocks each side, {sum(map(len, quiet))} and "
        f"{sum(map(len, polled))} invokes; a side's p50 and p99 are the medians over its "
        "blocks of each block's percentile"
    )
