"""Both of our runtimes answer the platform's invokes on their own socket by the same
rules (runtimes/protocol/invocation.py; the Node.js runtime speaks them in
runtimes/nodejs/invocation.js): the same requests get the same answers."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit import test_agent_generic
from tests.unit.agent_harness import Agents, function_env, now_ms, write_code

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node on PATH")
agents = test_agent_generic.agents

# The same function in both languages: echoes, fails, or answers past 6 MB on demand.
PYTHON = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to")
    if event.get("big"):
        return "x" * (7 * 1024 * 1024)
    print("ran")
    return {"echo": event, "id": context.aws_request_id}
"""
NODE = """
exports.handler = async (event, context) => {
  if (event.fail) throw new Error('asked to');
  if (event.big) return 'x'.repeat(7 * 1024 * 1024);
  process.stdout.write('ran\\n');
  return { echo: event, id: context.awsRequestId };
};
"""


def direct_socket(agents: Agents, tmp_path: Path, language: str) -> httpx.Client:
    task = tmp_path / language
    if language == "python":
        write_code(task, {"app.py": PYTHON})
        env = function_env(task, "app.handler", "python3.11")
    else:
        write_code(task, {"app.js": NODE})
        env = function_env(task, "app.handler", "nodejs20.x")
    return agents.start(env).direct()


def headers(**extra: str) -> dict[str, str]:
    return {"X-Request-Id": str(uuid.uuid4()), "X-Deadline-Ms": str(now_ms() + 30_000), **extra}


def answer_of(client: httpx.Client, body: bytes, hdrs: dict[str, str]) -> dict[str, Any]:
    """What the platform reads of an answer: its status, our headers, the body's shape."""
    reply = client.post("/invoke", content=body, headers=hdrs)
    ours = {k.lower() for k in reply.headers if k.lower().startswith("x-")}
    log_length = int(reply.headers.get("X-Faas-Log-Length", "0"))
    data = json.loads(reply.content[log_length:])
    if isinstance(data, dict) and "errorType" in data:
        data = {"errorType": data["errorType"], "errorMessage": data["errorMessage"]}
    elif isinstance(data, dict) and "id" in data:
        data["id"] = data["id"] == hdrs["X-Request-Id"]
    output = reply.content[:log_length].decode()
    return {
        "status": reply.status_code,
        "headers": ours - {"x-faas-cpu-throttled"},
        "body": data,
        "ran": "ran" in output,
    }


CASES = {
    "an event": (b'{"a": 1}', {}),
    "a failure": (b'{"fail": true}', {}),
    "a result past 6 MB": (b'{"big": true}', {}),
    "no request id": (b"{}", {"X-Request-Id": ""}),
    "a bad deadline": (b"{}", {"X-Deadline-Ms": "soon"}),
    "a bad client context": (b"{}", {"X-Client-Context": "not base64!"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_both_runtimes_answer_alike(agents: Agents, tmp_path: Path, case: str) -> None:
    body, extra = CASES[case]
    answers = {}
    for language in ("python", "node"):
        client = direct_socket(agents, tmp_path, language)
        hdrs = headers(**extra)
        if hdrs["X-Request-Id"] == "":
            del hdrs["X-Request-Id"]
        answers[language] = answer_of(client, body, hdrs)
    python, node = answers["python"], answers["node"]
    if case == "a failure":  # each language names its own exception class
        assert python["body"]["errorType"] == "ValueError" and node["body"]["errorType"] == "Error"
        python["body"]["errorType"] = node["body"]["errorType"] = "*"
    assert python == node
