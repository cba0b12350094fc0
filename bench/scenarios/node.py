"""Node.js beside Python: the warm, cold and footprint figures of a Node no-op function.

- Warm: a Node no-op invoked through the gateway and straight to its runtime's own
  socket (``runtimes/nodejs`` serves it, as the Python runtime serves its own), in
  alternating blocks as the warm scenario does; "added" is the difference of p50s.
- Cold: the first invoke of new Node functions and of new Python functions,
  alternated, a second apart (as the cold scenario: the server refills its generic
  pools meanwhile); Python's p50 in the same run is the baseline.
- Footprint: an idle warm Node instance (agent and runtime, PSS), against an idle
  ``node`` started in the same image.
"""

from __future__ import annotations

import io
import zipfile

from bench.harness import Harness, Plan, noop_source
from bench.model import Result
from bench.scenarios import cold, warm
from bench.scenarios.footprint import beside_sleeper
from bench.stats import summary
from tests.helpers import upload

RUNTIME = "nodejs20.x"
FUNCTION = "noop-node"
NOOP = "exports.handler = async () => null;\n"
SLEEPER = ["node", "-e", "setInterval(() => {}, 1 << 30)"]


def node_zip(tag: str = "") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("index.js", f"// {tag}\n{NOOP}")
    return out.getvalue()


def upload_node(h: Harness, name: str, tag: str = "") -> None:
    made = upload(h.client(), name, node_zip(tag), runtime=RUNTIME, handler="index.handler")
    if made.status_code != 201:
        raise RuntimeError(f"upload of {name} failed: {made.status_code} {made.text}")


def run(h: Harness, plan: Plan, result: Result) -> None:
    upload_node(h, FUNCTION)
    with h.gateway() as gw:
        reply = gw.send(h.invoke_request(FUNCTION))
        if reply.status != 200:
            raise RuntimeError(f"first invoke of {FUNCTION}: {reply.status} {reply.body[:300]!r}")
    warm_part(h, plan, result)
    cold_part(h, plan, result)
    footprint_part(h, result)


def warm_part(h: Harness, plan: Plan, result: Result) -> None:
    through, direct = warm.latencies(h, FUNCTION, plan.warm_calls)
    g, d = summary(through), summary(direct)
    for name, s in (("gateway", g), ("direct", d)):
        for stat in ("p50", "p99"):
            result.figures[f"{name}_{stat}_ms"] = s[stat]
    label = "direct to the Node runtime's socket"
    result.row(
        "warm invoke p50", "ms", "gateway_p50_ms", g["p50"], baseline=d["p50"], baseline_label=label
    )
    result.row("added by the gateway, p50", "ms", "added_p50_ms", g["p50"] - d["p50"], chart=False)


def cold_part(h: Harness, plan: Plan, result: Result) -> None:
    node: list[float] = []
    python: list[float] = []
    for _ in range(plan.cold_functions):
        node += cold.first_invokes(h, 1, result, lambda name, tag: upload_node(h, name, tag))
        python += cold.first_invokes(
            h, 1, result, lambda name, tag: h.upload(name, noop_source(tag))
        )
    n, p = summary(node), summary(python)
    for name, s in (("cold", n), ("python_cold", p)):
        for stat in ("p50", "p99"):
            result.figures[f"{name}_{stat}_ms"] = s[stat]
    result.row(
        "first invoke p50",
        "ms",
        "cold_p50_ms",
        n["p50"],
        baseline=p["p50"],
        baseline_label="a Python function's first invoke, same run",
    )
    result.notes.append(
        f"cold: {len(node)} new Node and {len(python)} new Python functions, alternated, "
        f"{cold.GAP_S:.0f} s apart"
    )


def footprint_part(h: Harness, result: Result) -> None:
    serving = h.instance_of(FUNCTION)
    image = serving.image.tags[0] if serving.image.tags else serving.image.id
    inst, base = beside_sleeper(h, serving, image, SLEEPER, result)
    result.figures["instance_rss_mb"] = inst["rss_mb"]
    result.row(
        "idle instance PSS",
        "MB",
        "instance_pss_mb",
        inst["pss_mb"],
        baseline=base["pss_mb"],
        baseline_label="idle node, same image",
    )
    result.notes.append(
        f"idle Node instance: {inst['processes']:.0f} processes (agent and runtime), "
        f"RSS {inst['rss_mb']:.1f} MB"
    )
