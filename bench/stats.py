"""Pure figures: percentiles, summaries, wrk's output parsed. No I/O here."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not in 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    """Count, mean, min, p50, p90, p99 and max of a list of samples."""
    return {
        "n": float(len(values)),
        "mean": sum(values) / len(values),
        "min": min(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def ratio(project: float | None, baseline: float | None) -> float | None:
    """project / baseline, or None when either is missing or the baseline is 0."""
    if project is None or baseline is None or baseline == 0:
        return None
    return project / baseline


_DURATION_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")


def duration_ms(text: str) -> float:
    """A wrk duration (``812.00us``, ``1.23ms``, ``2.01s``) in milliseconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _DURATION_MS[match[2]]


def parse_wrk(output: str) -> dict[str, float]:
    """What ``wrk --latency`` printed: requests, requests/s, latency percentiles, errors.

    ``errors`` is non-2xx/3xx responses plus socket errors (connect, read,
    write, timeout); each is also given on its own.
    """
    out: dict[str, float] = {}
    done = re.search(r"^\s*(\d+) requests in ([\d.]+\w+),", output, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if not done or not rate:
        raise ValueError(f"wrk output without a request count:\n{output}")
    out["requests"] = float(done[1])
    out["duration_s"] = duration_ms(done[2]) / 1000
    out["requests_per_s"] = float(rate[1])
    for pct, value in re.findall(r"^\s+(50|75|90|99)(?:\.000)?%\s+(\S+)\s*$", output, re.M):
        out[f"p{pct}_ms"] = duration_ms(value)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    out["non_2xx"] = float(non2xx[1]) if non2xx else 0.0
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    for i, kind in enumerate(("connect", "read", "write", "timeout"), start=1):
        out[f"socket_{kind}"] = float(sock[i]) if sock else 0.0
    out["errors"] = out["non_2xx"] + sum(
        out[f"socket_{k}"] for k in ("connect", "read", "write", "timeout")
    )
    return out
