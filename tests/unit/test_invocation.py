"""The rules of one invocation that the agent and the Python runtime share
(runtimes/protocol/invocation.py): headers, limits, CPU throttling, the answer. Pure logic."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from runtimes.protocol import invocation as rules
from runtimes.protocol.http1 import Request, Response

CONTEXT = {"client": {"app_title": "t"}, "custom": {"k": 1}}


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        pytest.param(
            {
                "x-request-id": "r1",
                "x-deadline-ms": "1700000000000",
                "x-invoked-function-arn": "arn:fn",
                "x-faas-attempt": "2",
                "x-amzn-trace-id": "Root=1-a-b",
            },
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": "r1",
                "Lambda-Runtime-Deadline-Ms": "1700000000000",
                "Lambda-Runtime-Invoked-Function-Arn": "arn:fn",
                "Lambda-Runtime-Trace-Id": "Root=1-a-b",
                "Faas-Attempt": "2",
            },
            id="everything given",
        ),
        pytest.param(
            {
                "x-request-id": "r2",
                "x-deadline-ms": "5",
                "x-client-context": base64.b64encode(json.dumps(CONTEXT).encode()).decode(),
            },
            {"Lambda-Runtime-Client-Context": json.dumps(CONTEXT), "Faas-Attempt": "1"},
            id="a client context, base64 JSON, is passed on as JSON",
        ),
        pytest.param({"x-deadline-ms": "5"}, "X-Request-Id is required", id="no request id"),
        pytest.param(
            {"x-request-id": "r", "x-deadline-ms": "soon"},
            "X-Deadline-Ms must be epoch milliseconds",
            id="a deadline that is no number",
        ),
        pytest.param(
            {"x-request-id": "r", "x-client-context": "not base64!"},
            "X-Client-Context must be base64 JSON",
            id="a client context that is no base64",
        ),
        pytest.param(
            {"x-request-id": "r", "x-client-context": base64.b64encode(b"{nope").decode()},
            "X-Client-Context must be base64 JSON",
            id="a client context that is no JSON",
        ),
    ],
)
def test_the_platforms_headers_become_the_runtime_apis(
    platform: dict[str, str], expected: dict[str, str] | str
) -> None:
    headers = rules.runtime_headers(platform)
    if isinstance(expected, str):
        assert headers == expected
    else:
        assert headers.items() >= expected.items(), headers


def test_without_a_deadline_or_a_trace_the_runtime_gets_lambdas_defaults() -> None:
    # Given an invoke that names only its request
    headers: Any = rules.runtime_headers({"x-request-id": "r"})
    # Then its deadline is Lambda's longest timeout from now, and its trace id is new
    deadline = int(headers["Lambda-Runtime-Deadline-Ms"])
    assert abs(deadline - (time.time() * 1000 + 900_000)) < 5_000
    assert re.fullmatch(
        r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Sampled=0", headers["Lambda-Runtime-Trace-Id"]
    )
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == ""


def test_a_result_past_6_mb_is_lambdas_response_size_error() -> None:
    error = json.loads(rules.too_large(7_000_000))
    assert error == {
        "errorMessage": "Response payload size (7000000 bytes) exceeded maximum allowed "
        "payload size (6291456 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
        "stackTrace": [],
    }


def test_cpu_throttling_is_counted_from_cgroup_v1_or_v2_since_the_last_look(
    tmp_path: Path,
) -> None:
    # Given a cgroup v1 cpu.stat (no v2 one) that has seen 7 throttled periods
    stat = tmp_path / "cpu.stat"
    stat.write_text("nr_periods 40\nnr_throttled 7\nthrottled_time 5000\n")
    counter = rules.ThrottleCounter((str(tmp_path / "v2-absent"), str(stat)))
    # Then what came before the counter is not counted
    assert counter.since_last() == 0
    # When the container is throttled in 3 more periods, Then those 3 are counted, once
    stat.write_text("nr_periods 52\nnr_throttled 10\nthrottled_time 9000\n")
    assert counter.since_last() == 3
    assert counter.since_last() == 0


def test_no_cpu_stat_means_no_throttling_reported(tmp_path: Path) -> None:
    assert rules.ThrottleCounter((str(tmp_path / "absent"),)).since_last() == 0
    assert rules.throttled_periods(b"nr_periods 3\n") is None
    assert rules.throttled_periods(b"nr_periods 3\nnr_throttled 2\n") == 2


BIG = b'"' + b"z" * rules.MAX_RESPONSE + b'"'


@pytest.mark.parametrize(
    ("ended", "headers", "body"),
    [
        pytest.param(
            {"result": b'{"ok": 1}'},
            {"Content-Type": "application/json"},
            b'{"ok": 1}',
            id="a result, no output asked for",
        ),
        pytest.param(
            {"result": b'"r"', "output": b"hello\n", "throttled": 3},
            {"X-Faas-Log-Length": "6", "X-Faas-Cpu-Throttled": "3"},
            b'hello\n"r"',
            id="its output leads the body, throttling counted",
        ),
        pytest.param(
            {"result": b'"r"', "output": b""},
            {"X-Faas-Log-Length": "0"},
            b'"r"',
            id="asked for output, none written",
        ),
        pytest.param(
            {"result": b'{"errorType": "E"}', "error": True, "broken": True, "init_ms": 12},
            {"X-Function-Error": "Unhandled", "X-Sandbox-Broken": "1", "X-Init-Duration-Ms": "12"},
            b'{"errorType": "E"}',
            id="an error that broke the sandbox, on the first invoke",
        ),
        pytest.param(
            {"result": BIG},
            {"X-Function-Error": "Unhandled"},
            rules.too_large(len(BIG)),
            id="a result past 6 MB is Lambda's size error",
        ),
    ],
)
def test_an_invocation_is_answered_the_same_by_the_agent_and_the_runtime(
    ended: dict[str, Any], headers: dict[str, str], body: bytes
) -> None:
    # Given how an invocation ended, When either server answers the platform
    response = rules.answer(ended.pop("result"), ended.pop("error", False), **ended)
    # Then it answers 200 with these headers (and none of the others) and this body
    assert response.status == 200
    assert response.headers.items() >= headers.items()
    optional = {"X-Function-Error", "X-Sandbox-Broken", "X-Init-Duration-Ms"}
    optional |= {"X-Faas-Cpu-Throttled", "X-Faas-Log-Length"}
    assert not (optional - headers.keys()) & response.headers.keys()
    assert response.body == body


@pytest.mark.parametrize(
    ("oversize", "headers", "status", "message"),
    [
        pytest.param(40_000_000, {"x-request-id": "r"}, 413, "event too large", id="too large"),
        pytest.param(0, {}, 400, "X-Request-Id is required", id="no request id"),
        pytest.param(
            0,
            {"x-request-id": "r", "x-deadline-ms": "soon"},
            400,
            "X-Deadline-Ms",
            id="bad deadline",
        ),
    ],
)
def test_an_invoke_the_function_cannot_take_is_refused(
    oversize: int, headers: dict[str, str], status: int, message: str
) -> None:
    # Given a POST /invoke the function must not see
    request = Request("POST", "/invoke", headers, keep_alive=True)
    request.oversize = oversize
    # When a server reads it, Then it answers with the refusal and says why
    refusal = rules.accept(request)
    assert isinstance(refusal, Response) and refusal.status == status
    assert message in json.loads(refusal.body)["error"]


def test_an_invoke_the_function_can_take_gets_the_runtime_apis_headers() -> None:
    request = Request("POST", "/invoke", {"x-request-id": "r1"}, keep_alive=True)
    headers = rules.accept(request)
    assert isinstance(headers, dict) and headers["Lambda-Runtime-Aws-Request-Id"] == "r1"
