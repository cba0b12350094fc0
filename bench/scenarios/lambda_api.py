"""Lambda API: a signed boto3-style warm invoke against the same invoke through /v1.

Issue 19's speed target: ``POST /2015-03-31/functions/noop/invocations``, signed
with SigV4 by the admin key's access key id, may cost at most 0.15 ms more at
p50 than ``POST /v1/functions/noop/invoke`` with the same key as a Bearer token:
the same function, the same server, the same run.

The Lambda request is the one boto3 sends for ``invoke(FunctionName="noop",
Payload=b"{}")``: its path, headers and body are taken once from a real boto3
client (stopped before it sends anything), then every request is signed afresh
by botocore's ``SigV4Auth``, with its own ``X-Amz-Date`` and invocation id, as
boto3 signs each call. Requests are signed before a block's clock starts: the
signature is the client's cost, the server's verification is what is measured.

Both sides use ``bench.httpraw`` on a keep-alive connection each, sequentially,
in alternating blocks (``warm.metered``). The server's CPU time during each
side's blocks (its threads' ``/proc/<pid>/task/*/schedstat``) gives its CPU per
invoke, so the added latency can be set against what the server spent on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials

from bench import httpraw
from bench.harness import Harness, Plan
from bench.model import Result
from bench.scenarios.warm import BLOCK, WARM_UP, metered
from bench.stats import summary
from faas.auth import access_key_id_of

FUNCTION = "noop"
# botocore adds these when it signs; the template must not carry the old ones.
_SIGNATURE_HEADERS = ("Authorization", "X-Amz-Date")


class LambdaSigner:
    """Makes boto3's invoke request of ``FUNCTION``, freshly signed each time."""

    def __init__(self, h: Harness) -> None:
        self.host = f"127.0.0.1:{h.port}"
        self.credentials = Credentials(access_key_id_of(h.admin_key), h.admin_key)
        self.region = h.settings.region
        self.url, self.headers, self.body = boto3_invoke(
            f"http://{self.host}", self.credentials, self.region
        )
        self.path = self.url.removeprefix(f"http://{self.host}")

    def request(self) -> bytes:
        headers = {**self.headers, "amz-sdk-invocation-id": str(uuid.uuid4())}
        signed = AWSRequest("POST", self.url, headers=headers, data=self.body)
        SigV4Auth(self.credentials, "lambda", self.region).add_auth(signed)
        return httpraw.build(
            "POST", self.path, dict(signed.headers.items()), self.body, host=self.host
        )


def boto3_request(
    endpoint: str,
    credentials: Credentials,
    region: str,
    service: str,
    operation: str,
    call: Callable[[Any], object],
) -> tuple[str, dict[str, str], bytes]:
    """The URL, headers (less the signature's) and body of the request boto3 makes for
    ``operation`` of ``service`` when ``call(client)`` runs, caught before it is sent."""
    client = boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        config=Config(retries={"max_attempts": 1}),
    )
    caught: dict[str, Any] = {}

    def catch(request: Any, **_: Any) -> AWSResponse:
        caught["request"] = request
        return AWSResponse(request.url, 200, {}, None)

    client.meta.events.register(f"before-send.{service}.{operation}", catch)
    try:
        call(client)
    except Exception:
        if "request" not in caught:
            raise
        # The empty answer need not parse: the request is what was wanted.
    finally:
        client.close()
    sent = caught["request"]
    headers = {
        name: value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in sent.headers.items()
        if name not in _SIGNATURE_HEADERS and name.lower() != "content-length"
    }
    return sent.url, headers, bytes(sent.body or b"")


def boto3_invoke(
    endpoint: str, credentials: Credentials, region: str
) -> tuple[str, dict[str, str], bytes]:
    """boto3's invoke of the no-op (``boto3_request``)."""
    return boto3_request(
        endpoint,
        credentials,
        region,
        "lambda",
        "Invoke",
        lambda client: client.invoke(FunctionName=FUNCTION, Payload=b"{}"),
    )


def server_cpu(pid: int) -> float:
    """CPU seconds the process's threads have run so far (ns-precise, unlike /proc/<pid>/stat's
    ticks of 10 ms: a block of 100 invokes costs the server about 20 ms)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass  # a thread that ended between the listing and the read
    return total / 1e9


def latencies(h: Harness, n: int) -> tuple[list[float], list[float], list[float]]:
    """``n`` sequential invokes through /v1 and through the Lambda API, in ms, and the
    server's CPU seconds during each side's blocks."""
    signer = LambdaSigner(h)
    v1_request = h.invoke_request(FUNCTION)
    pid = h.pid
    with h.gateway() as v1, h.gateway() as aws:
        # A function's error is a 200 on this API: make sure the no-op ran, once, untimed.
        reply = aws.send(signer.request())
        if reply.status != 200 or "x-amz-function-error" in reply.headers:
            raise RuntimeError(f"Lambda invoke answered {reply.status}: {reply.body[:300]!r}")
        (through_v1, through_aws), cpu = metered(
            [(v1, lambda: v1_request), (aws, signer.request)], n, lambda: server_cpu(pid)
        )
    return through_v1, through_aws, cpu


def run(h: Harness, plan: Plan, result: Result) -> None:
    through_v1, through_aws, (cpu_v1, cpu_aws) = latencies(h, plan.warm_calls)
    v, a = summary(through_v1), summary(through_aws)
    f = result.figures
    for name, s in (("v1", v), ("lambda", a)):
        for stat in ("p50", "p90", "p99", "mean", "max"):
            f[f"{name}_{stat}_ms"] = s[stat]
    f["calls"] = float(len(through_v1))
    per_call_us = 1e6 / len(through_v1)
    label = "/v1 invoke, Bearer key"
    result.row(
        "invoke p50", "ms", "lambda_p50_ms", a["p50"], baseline=v["p50"], baseline_label=label
    )
    result.row(
        "invoke p99", "ms", "lambda_p99_ms", a["p99"], baseline=v["p99"], baseline_label=label
    )
    for stat in ("p50", "p99"):
        added = a[stat] - v[stat]
        result.row(f"added by the Lambda API, {stat}", "ms", f"added_{stat}_ms", added, chart=False)
    result.row(
        "server CPU per invoke",
        "us",
        "server_cpu_us",
        cpu_aws * per_call_us,
        baseline=cpu_v1 * per_call_us,
        baseline_label=label,
        chart=False,
    )
    result.row(
        "server CPU added per invoke",
        "us",
        "added_cpu_us",
        (cpu_aws - cpu_v1) * per_call_us,
        chart=False,
    )
    result.notes.append(
        f"{len(through_v1)} sequential calls each side, each on its own keep-alive connection, "
        f"in alternating blocks of {BLOCK} after {WARM_UP} warm-up calls; the Lambda side is "
        "boto3's invoke request signed afresh by botocore's SigV4Auth before each block's clock "
        "starts; added = Lambda percentile - /v1 percentile; server CPU from its threads' "
        "schedstat during each side's blocks"
    )
