"""Warm overhead: the same no-op invoke through the gateway and straight to the container.

Both sides use ``bench.httpraw`` on one keep-alive connection, sequentially,
in alternating blocks so a change in the machine's load hits both alike. The
direct side sends what the platform sends to the socket it sends invokes to:
the Python runtime's own (``docs/container-protocol.md``, "The direct socket").
"Added" is the gateway's percentile minus the direct one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from bench import httpraw
from bench.harness import Harness, Plan
from bench.model import Result
from bench.stats import summary
from bench.targets import SAM_WARM_P50_MS
from faas.compute.lambda_env import function_arn

FUNCTION = "noop"
BLOCK = 100


def direct_request(arn: str) -> bytes:
    """The request the platform sends a container for a sync invoke of ``{}``."""
    headers = {
        "X-Request-Id": str(uuid.uuid4()),
        # Far enough out that no call of the run comes near it.
        "X-Deadline-Ms": str(int(time.time() * 1000) + 3_600_000),
        "X-Invoked-Function-Arn": arn,
        "X-Faas-Attempt": "1",
        "X-Faas-Capture-Log": "1",
        "Content-Type": "application/json",
    }
    return httpraw.build("POST", "/invoke", headers, b"{}")


def timed(client: httpraw.RawClient, requests: list[bytes]) -> list[float]:
    out = []
    clock = time.perf_counter
    for raw in requests:
        client.fresh()
        started = clock()
        reply = client.send(raw)
        out.append((clock() - started) * 1000)
        if reply.status != 200 or reply.headers.get("x-function-error"):
            raise RuntimeError(f"invoke answered {reply.status}: {reply.body[:300]!r}")
    return out


# One side of an interleaved measurement: a client, and what makes each of its requests.
Side = tuple[httpraw.RawClient, Callable[[], bytes]]
WARM_UP = 200


def interleaved(sides: list[Side], n: int) -> list[list[float]]:
    """``n`` sequential requests of each side, in ms, after a warm-up of each: in
    alternating blocks of ``BLOCK``, so a change in the machine's load hits all alike."""
    return metered(sides, n, lambda: 0.0)[0]


def metered(
    sides: list[Side], n: int, cpu: Callable[[], float]
) -> tuple[list[list[float]], list[float]]:
    """``interleaved``, and what ``cpu`` (a process's CPU seconds so far) grew by
    during each side's blocks, summed: that process's CPU for that side's requests.

    Every request of a block is made before its clock starts (a signature is the
    client's cost, not the server's).
    """
    for client, make in sides:
        timed(client, [make() for _ in range(WARM_UP)])
    out: list[list[float]] = [[] for _ in sides]
    spent = [0.0 for _ in sides]
    for start in range(0, n, BLOCK):
        size = min(BLOCK, n - start)
        for i, (client, make) in enumerate(sides):
            requests = [make() for _ in range(size)]
            before = cpu()
            out[i] += timed(client, requests)
            spent[i] += cpu() - before
    return out, spent


def latencies(h: Harness, function: str, n: int) -> tuple[list[float], list[float]]:
    """``n`` sequential invokes through the gateway and ``n`` direct, in ms, after a warm-up."""
    serving = h.instance_of(function)
    arn = function_arn(h.settings.region, h.settings.account_id, function)
    # Any of the function's idle instances answers the direct calls; the platform
    # is not sending it anything meanwhile (every call here is sequential).
    with h.gateway() as gw, httpraw.RawClient(unix=h.invoke_socket(serving)) as container:
        gateway_request = h.invoke_request(function)
        through, direct = interleaved(
            [(gw, lambda: gateway_request), (container, lambda: direct_request(arn))], n
        )
    return through, direct


def run(h: Harness, plan: Plan, result: Result) -> None:
    through, direct = latencies(h, FUNCTION, plan.warm_calls)
    g, d = summary(through), summary(direct)
    for name, s in (("gateway", g), ("direct", d)):
        for stat in ("p50", "p90", "p99", "mean", "max"):
            result.figures[f"{name}_{stat}_ms"] = s[stat]
    result.figures["calls"] = float(len(through))
    label = "direct to the container's socket"
    result.row(
        "invoke p50", "ms", "gateway_p50_ms", g["p50"], baseline=d["p50"], baseline_label=label
    )
    result.row(
        "invoke p99", "ms", "gateway_p99_ms", g["p99"], baseline=d["p99"], baseline_label=label
    )
    result.row("added by the gateway, p50", "ms", "added_p50_ms", g["p50"] - d["p50"], chart=False)
    result.row("added by the gateway, p99", "ms", "added_p99_ms", g["p99"] - d["p99"], chart=False)
    result.row(
        "speed-up over SAM CLI warm p50",
        "x",
        "speedup_vs_sam",
        SAM_WARM_P50_MS / g["p50"],
        baseline_label=f"SAM CLI {SAM_WARM_P50_MS:.0f} ms, quoted from issue 6, not measured",
        chart=False,
    )
    result.notes.append(
        f"{len(through)} sequential calls each side on one keep-alive connection, in alternating "
        f"blocks of {BLOCK} after 200 warm-up calls; added = gateway percentile - direct percentile"
    )
