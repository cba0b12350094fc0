"""The benchmark suite of issues 6 and 19, in one command: ``python bench/run.py``.

Starts a private redis-server and ``faas serve`` (a temp data dir, node id
``bench-<random>``, an admin key), runs the eight scenarios, each against a
baseline measured in the same run, and writes ``latest.json``, ``latest.md``
and ``chart.png`` to ``--out``. Prints the results table and one PASS/FAIL
line per target. See bench/README.md for what each figure means.

Exit status: 0 when every chosen scenario ran (whatever the verdicts), 1 when
one could not finish, 130 when interrupted (nothing is written then).
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import machine, report  # noqa: E402
from bench.harness import Harness, Plan, deploy_noop  # noqa: E402
from bench.model import Result  # noqa: E402
from bench.scenarios import (  # noqa: E402
    async_events,
    burst,
    cluster,
    cold,
    console,
    footprint,
    lambda_api,
    mappings,
    new_functions,
    node,
    queues,
    scale,
    throughput,
    warm,
    workers,
)
from bench.targets import TARGETS, evaluate  # noqa: E402

TITLES = {
    "warm": "1. Warm overhead",
    "throughput": "2. Throughput",
    "cold": "3. Cold start",
    "burst": "4. Burst",
    "async": "5. Async",
    "footprint": "6. Footprint",
    "scale": "7. Scale",
    "lambda_api": "8. Lambda API",
    "node": "9. Node.js",
    "queues": "10. Queues",
    "mappings": "11. Event source mappings",
    "workers": "12. Worker processes",
    "new_functions": "13. New functions at once",
    "cluster": "14. Three nodes",
    "console": "15. Web console",
}
SCENARIOS = tuple(TITLES)


def parse_only(text: str | None) -> list[str]:
    if not text:
        return list(SCENARIOS)
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in TITLES]
    if unknown:
        raise SystemExit(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return [s for s in SCENARIOS if s in chosen]


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def step(result: Result, what: str, job: Callable[[], object]) -> None:
    """Run one part of a scenario; a failure is recorded on the result, not raised."""
    if result.error is not None:
        return
    progress(f"{result.name}: {what}")
    started = time.perf_counter()
    try:
        job()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        result.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        result.seconds += time.perf_counter() - started


def run_server_scenarios(plan: Plan, results: dict[str, Result]) -> None:
    """Every scenario but async, against one server, in an order that lets them share it.

    The footprint's loaded half and scale come after the registration of many
    functions; scale compares the server with a second one it starts itself.
    """
    h = Harness(max_instances=plan.instances + 200)
    loaded: dict[str, Any] = {}

    def register(_: Result) -> None:
        loaded["count"], loaded["fresh"] = footprint.register(h, plan.functions)

    stages: list[tuple[str, str, Callable[[Result], object]]] = [
        ("setup", f"starting redis-server and faas serve (node {h.node})", lambda r: h.start()),
        ("footprint", "gateway RSS at start", lambda r: footprint.at_start(h, r)),
        ("setup", "deploying the no-op function", lambda r: deploy_noop(h)),
        ("warm", f"{plan.warm_calls} calls each side", lambda r: warm.run(h, plan, r)),
        (
            "lambda_api",
            f"{plan.warm_calls} signed Lambda invokes and as many /v1",
            lambda r: lambda_api.run(h, plan, r),
        ),
        (
            "queues",
            f"SendMessageBatch for {plan.wrk_seconds} s, and the send script on Redis alone",
            lambda r: queues.run(h, plan, r),
        ),
        ("footprint", "idle instance", lambda r: footprint.instance(h, plan, r)),
        ("throughput", "wrk at 1, 8 and 32 connections", lambda r: throughput.run(h, plan, r)),
        ("node", "a Node function: warm, cold and idle", lambda r: node.run(h, plan, r)),
        (
            "mappings",
            f"{plan.messages} messages through a mapping",
            lambda r: mappings.run(h, plan, r),
        ),
        ("cold", f"{plan.cold_functions} new functions", lambda r: cold.run(h, plan, r)),
        ("burst", f"{plan.burst} concurrent cold calls", lambda r: burst.run(h, plan, r)),
        ("register", f"registering {plan.functions} functions", register),
        (
            "footprint",
            f"gateway with the functions and {plan.instances} instances",
            lambda r: footprint.loaded(h, plan, r, loaded["count"], loaded["fresh"]),
        ),
        ("scale", "latency with the functions registered vs 1", lambda r: scale.run(h, plan, r)),
        (
            "console",
            "every console page with the functions registered; invokes while one polls",
            lambda r: console.run(h, plan, r, loaded["fresh"]),
        ),
        (
            "cluster",
            "warm routing over 3 nodes, forwarding and leases",
            lambda r: cluster.run(h, plan, r),
        ),
    ]
    parts = {"setup": Result("setup", "setup"), **results}
    if any(name in results for name in ("footprint", "scale", "console")):
        parts["register"] = Result("register", "register")
    try:
        after_register = False
        for name, what, job in stages:
            if name not in parts:
                continue
            result = parts[name]
            # Everything needs the server; what follows the registration needs the functions.
            if parts["setup"].error and name != "setup":
                result.error = result.error or f"setup failed: {parts['setup'].error}"
            elif after_register and not loaded:
                result.error = result.error or f"registering failed: {parts['register'].error}"
            after_register = after_register or name == "register"
            step(result, what, functools.partial(job, result))
    finally:
        progress("stopping the server, removing this run's containers")
        left = h.close()
        if left:
            progress(f"WARNING: {left} containers labelled faas.node={h.node} could not be removed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about 2 minutes)")
    parser.add_argument("--only", metavar="SCENARIO[,..]", help=f"some of: {','.join(SCENARIOS)}")
    parser.add_argument(
        "--out",
        type=Path,
        help="where results go (default bench/results; bench/results/quick with --quick, "
        "so a smoke run never replaces the full run's results)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = ROOT / "bench" / "results" / ("quick" if args.quick else "")
    chosen = parse_only(args.only)
    plan = Plan.make(args.quick)
    results = {name: Result(name, TITLES[name]) for name in chosen}

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    about = machine.describe()
    run = {"date": machine.now(), "quick": plan.quick, "scenarios": chosen, "plan": plan.__dict__}
    started = time.perf_counter()
    try:
        # async, workers and new_functions start servers of their own.
        if any(name not in ("async", "workers", "new_functions") for name in chosen):
            run_server_scenarios(plan, results)
        if "workers" in results:
            step(
                results["workers"],
                "wrk -c32 against 1 and 2 worker processes, alternating",
                lambda: workers.run(plan, results["workers"]),
            )
        if "async" in results:
            step(
                results["async"],
                f"{plan.async_events} events",
                lambda: async_events.run(plan, results["async"]),
            )
        if "new_functions" in results:
            step(
                results["new_functions"],
                f"{new_functions.BURST} new functions at once, on a server of its own",
                lambda: new_functions.run(plan, results["new_functions"]),
            )
    except KeyboardInterrupt:
        progress("interrupted: cleaned up, nothing written")
        return 130
    run["seconds"] = time.perf_counter() - started

    ordered = [results[name] for name in chosen]
    figures = {f"{r.name}.{k}": v for r in ordered for k, v in r.figures.items()}
    verdicts = evaluate([t for t in TARGETS if t.scenario in results], figures)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(report.as_json(ordered, verdicts, about, run))
    (args.out / "latest.md").write_text(report.markdown(ordered, verdicts, about, run))
    report.chart(ordered, args.out / "chart.png", verdicts)

    print(report.text_table(report.table_rows(ordered, verdicts)))
    print()
    for verdict in verdicts:
        print(verdict.line())
    print(f"\nresults in {args.out} ({run['seconds']:.0f} s)")
    return 1 if any(r.error for r in ordered) else 0


if __name__ == "__main__":
    sys.exit(main())
