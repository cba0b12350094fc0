"""The Node.js runtime behind the real agent, on this host's node: what a handler
written for Lambda's Node.js runtimes finds (loading, callbacks, errors, context)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.unit import test_agent_generic
from tests.unit.agent_harness import Agents, function_env, split_log, write_code

agents = test_agent_generic.agents

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node on PATH")


def start(
    agents: Agents, tmp_path: Path, files: dict[str, str], handler: str, runtime: str = "nodejs20.x"
):  # type: ignore[no-untyped-def]
    task = tmp_path / "task"
    write_code(task, files)
    env = function_env(task, handler, runtime) | {"AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}"}
    return agents.start(env)


def test_each_kind_of_module_loads(agents: Agents, tmp_path: Path) -> None:
    files = {
        "cjs.cjs": "exports.handler = async (e) => ({ kind: 'cjs', e });\n",
        "esm.mjs": "export const handler = async (e) => ({ kind: 'mjs', e });\n",
        "typed/package.json": '{"type": "module"}\n',
        "typed/app.js": "export const nested = { handler: async () => ({ kind: 'type module' }) };",
    }
    for handler, kind in (("cjs.handler", "cjs"), ("esm.handler", "mjs")):
        agent = start(agents, tmp_path, files, handler)
        assert agent.invoke({"n": 1}).json() == {"kind": kind, "e": {"n": 1}}
    agent = start(agents, tmp_path, files, "typed/app.nested.handler")
    assert agent.invoke({}).json() == {"kind": "type module"}


def test_callbacks_wait_for_the_event_loop_unless_told_not_to(
    agents: Agents, tmp_path: Path
) -> None:
    files = {
        "app.js": """
        exports.waits = (e, context, callback) => {
          setTimeout(() => console.log('timer ran'), 200);
          const remaining = context.getRemainingTimeInMillis() > 0;
          callback(null, { remaining, id: context.awsRequestId });
        };
        exports.hurries = (e, context, callback) => {
          context.callbackWaitsForEmptyEventLoop = false;
          setTimeout(() => console.log('timer ran'), 200);
          callback(null, 'fast');
        };
        exports.silent = (e, context, callback) => { setTimeout(() => {}, 10); };
        """
    }
    waits = start(agents, tmp_path, files, "app.waits")
    log, result = split_log(waits.invoke({}, "req-1", **{"X-Faas-Capture-Log": "1"}))
    assert result == {"remaining": True, "id": "req-1"}
    assert "\treq-1\tINFO\ttimer ran" in log  # it ran before the answer
    hurries = start(agents, tmp_path, files, "app.hurries")
    log, result = split_log(hurries.invoke({}, **{"X-Faas-Capture-Log": "1"}))
    assert result == "fast" and "timer ran" not in log
    # A callback handler that never calls back answers null once nothing is left to run
    assert start(agents, tmp_path, files, "app.silent").invoke({}).json() is None
    # Node.js 24 refuses callback handlers, as Lambda does
    refused = start(agents, tmp_path, files, "app.waits", runtime="nodejs24.x").invoke({})
    assert refused.json()["errorType"] == "Runtime.CallbackHandlerDeprecated"


def test_init_errors_carry_lambdas_names(agents: Agents, tmp_path: Path) -> None:
    files = {"bad.js": "exports.handler = async () => {;\n", "ok.js": "exports.other = 1;\n"}
    for handler, error_type in (
        ("bad.handler", "Runtime.UserCodeSyntaxError"),
        ("missing.handler", "Runtime.ImportModuleError"),
        ("ok.handler", "Runtime.HandlerNotFound"),
        ("nodot", "Runtime.MalformedHandlerName"),
    ):
        answer = start(agents, tmp_path, files, handler).invoke({})
        assert answer.headers["X-Sandbox-Broken"] == "1"
        assert answer.json()["errorType"] == error_type, (handler, answer.json())


def test_an_unhandled_rejection_fails_the_invocation_and_the_sandbox(
    agents: Agents, tmp_path: Path
) -> None:
    files = {
        "app.js": """
        exports.handler = async () => {
          Promise.reject(new Error('nobody caught me'));
          await new Promise((ok) => setTimeout(ok, 1000));
          return 'never';
        };
        """
    }
    agent = start(agents, tmp_path, files, "app.handler")
    direct = agent.direct()
    answer = agent.invoke({}, via=direct)
    body = json.loads(answer.content[int(answer.headers["X-Faas-Log-Length"]) :])
    assert body["errorType"] == "Runtime.UnhandledPromiseRejection"
    assert body["errorMessage"] == "Error: nobody caught me"
    assert answer.headers["X-Sandbox-Broken"] == "1"


def test_direct_answers_refuse_as_the_agent_does(agents: Agents, tmp_path: Path) -> None:
    agent = start(
        agents, tmp_path, {"app.js": "exports.handler = async (e) => e;\n"}, "app.handler"
    )
    direct = agent.direct()
    for client in (agent.client, direct):
        missing = client.post("/invoke", content=b"{}")
        assert missing.status_code == 400 and "X-Request-Id" in missing.json()["error"]
        bad = client.post(
            "/invoke", content=b"{}", headers={"X-Request-Id": "r", "X-Deadline-Ms": "soon"}
        )
        assert bad.status_code == 400 and "X-Deadline-Ms" in bad.json()["error"]
    # A thrown string, as Lambda reports it
    files = {"app.js": "exports.handler = async () => { throw 'plain words'; };\n"}
    thrown = start(agents, tmp_path, files, "app.handler").invoke({})
    assert thrown.json() == {"errorType": "string", "errorMessage": "plain words", "trace": []}
