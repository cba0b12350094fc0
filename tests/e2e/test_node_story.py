"""Node.js functions: handlers written for Lambda's Node.js runtimes run here unchanged.

A team brings its Node functions: an API Gateway v2 handler behind an HTTP route,
an async handler that fetches over the network, one bundled with its node_modules,
and the failures every team meets (a throw, a timeout, memory exhausted). Each of
nodejs20.x, 22.x and 24.x runs exactly that Node major; a runtime the server cannot
run is refused at create with the runtimes it can.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.e2e import test_lambda_api_story as story
from tests.helpers import upload
from tests.zips import make_zip

lam, clients = story.lam, story.clients


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # The story's keys; and Python 3.12+ from an image no registry has, so that whether
    # this machine can pull python:3.x-slim does not matter.
    missing = "faas-test-missing.invalid/python:{version}"
    keys = {"FAAS_ADMIN_KEY": story.ADMIN, "FAAS_INVOKE_KEYS": f"{story.INVOKER}:echo"}
    return {**server_env, **keys, "FAAS_PYTHON_IMAGE": missing}


API_V2 = """
exports.handler = async (event, context) => {
  console.log('route', event.rawPath);
  return {
    statusCode: 201,
    headers: { 'content-type': 'application/json', 'x-runtime': process.version },
    body: JSON.stringify({ path: event.rawPath, query: event.queryStringParameters,
                           fn: context.functionName, mem: context.memoryLimitInMB }),
  };
};
"""

# fetch() to a server on the function's own loopback: the network stack, undici, async.
FETCH = """
import http from 'node:http';
export const handler = async (event) => {
  const server = http.createServer((req, res) => res.end(JSON.stringify({ seen: req.url })));
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    const answer = await fetch(`http://127.0.0.1:${server.address().port}/ping?n=${event.n}`);
    return { status: answer.status, body: await answer.json() };
  } finally {
    server.close();
  }
};
"""

# A package bundled in the zip, found by require() as npm would lay it out.
BUNDLED = make_zip(
    {
        "index.js": "const pad = require('tiny-pad');\n"
        "exports.handler = async (e) => ({ padded: pad(String(e.n), 5) });\n",
        "node_modules/tiny-pad/package.json": json.dumps(
            {"name": "tiny-pad", "version": "1.0.0", "main": "lib/pad.js"}
        ),
        "node_modules/tiny-pad/lib/pad.js": "module.exports = (s, n) => s.padStart(n, '0');\n",
    }
)

THROWS = """
class OrderRejected extends Error {
  constructor(message) { super(message); this.name = 'OrderRejected'; }
}
exports.handler = async (event) => { throw new OrderRejected(`order ${event.id} is rejected`); };
"""

SLOW = "exports.handler = async () => new Promise((ok) => setTimeout(ok, 10000));\n"

# Holds on to ever more memory, past its 128 MB.
HOG = """
const kept = [];
exports.handler = async () => {
  for (;;) kept.push(Buffer.alloc(8 * 1024 * 1024, 1));
};
"""

VERSION = """
exports.handler = async () => ({ node: process.version, env: process.env.AWS_EXECUTION_ENV });
"""


def node_zip(source: str, name: str = "index.js") -> bytes:
    return make_zip({name: source})


def deploy(api: httpx.Client, name: str, code: bytes, **fields: str) -> None:
    made = upload(api, name, code, runtime="nodejs20.x", handler="index.handler", **fields)
    assert made.status_code == 201, made.text


def invoke(api: httpx.Client, name: str, event: Any) -> httpx.Response:
    return api.post(f"/v1/functions/{name}/invoke", json=event)


def test_an_api_gateway_v2_handler_answers_http(api: httpx.Client) -> None:
    # Given a Node function written for API Gateway's HTTP API (payload 2.0)
    deploy(api, "orders", node_zip(API_V2))
    exposed = api.put("/v1/functions/orders/http", json={"payload_format": "2.0"})
    assert exposed.status_code == 200, exposed.text
    assert exposed.json()["invoke_mode"] == "BUFFERED"  # the default: the body sent whole
    # When a client calls it through the function's HTTP route
    answer = api.get("/fn/orders/orders/42", params={"verbose": "1"})
    # Then its statusCode, headers and body are the HTTP answer
    assert answer.status_code == 201, answer.text
    assert answer.headers["x-runtime"].startswith("v20.")
    assert answer.json() == {
        "path": "/orders/42",
        "query": {"verbose": "1"},
        "fn": "orders",
        "mem": "128",
    }
    # And its console line is in the function's log as Lambda frames it
    logs = api.get("/v1/functions/orders/logs").json()["logs"]
    lines = [line for entry in logs for line in entry["log"].splitlines()]
    framed = [line.split("\t") for line in lines if "\tINFO\t" in line]
    assert framed and framed[0][3] == "route /orders/42", lines
    assert framed[0][0].endswith("Z") and len(framed[0][1]) == 36  # ISO time, request id


def test_an_async_handler_fetches_and_a_bundled_package_loads(api: httpx.Client) -> None:
    # Given an ES module that fetches from a server on its own loopback
    deploy(api, "pinger", node_zip(FETCH, "index.mjs"))
    # When it is invoked twice (cold, then warm)
    for n in (1, 2):
        answer = invoke(api, "pinger", {"n": n})
        # Then fetch() worked both times
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": 200, "body": {"seen": f"/ping?n={n}"}}
    # Given a zip with its node_modules
    deploy(api, "padder", BUNDLED)
    # Then require() finds the package in it
    assert invoke(api, "padder", {"n": 42}).json() == {"padded": "00042"}


def test_failures_are_reported_as_lambdas_node_runtime_reports_them(api: httpx.Client) -> None:
    # Given a function that throws its own error class
    deploy(api, "rejecter", node_zip(THROWS))
    failed = api.post(
        "/v1/functions/rejecter/invoke", json={"id": 7}, headers={"X-Amz-Log-Type": "Tail"}
    )
    # Then the error names the class, and carries the message and the stack
    assert failed.status_code == 500 and failed.headers["X-Faas-Function-Error"] == "Unhandled"
    error = failed.json()
    assert error["errorType"] == "OrderRejected"
    assert error["errorMessage"] == "order 7 is rejected"
    assert error["trace"][0] == "OrderRejected: order 7 is rejected"
    tail = base64.b64decode(failed.headers["X-Faas-Log-Result"]).decode()
    assert "\tERROR\tInvoke Error \t" in tail
    # Given a function slower than its timeout
    deploy(api, "sleeper", node_zip(SLOW), timeout_s="1")
    late = invoke(api, "sleeper", {})
    # Then it times out as on Lambda
    assert late.status_code == 504 and late.json()["errorType"] == "Sandbox.Timedout", late.text
    assert "Task timed out after 1.00 seconds" in late.json()["errorMessage"]
    # Given a function that exhausts its memory
    deploy(api, "hog", node_zip(HOG))
    hogged = invoke(api, "hog", {})
    # Then it fails as out of memory, and the next call gets a fresh instance that works
    assert hogged.json()["errorType"] == "Runtime.OutOfMemory", hogged.text
    assert invoke(api, "rejecter", {"id": 8}).json()["errorMessage"] == "order 8 is rejected"


@pytest.mark.parametrize("major", ["20", "22", "24"])
def test_each_node_runtime_runs_that_major(api: httpx.Client, major: str) -> None:
    # Given a function of nodejsNN.x
    name = f"version{major}"
    made = upload(api, name, node_zip(VERSION), runtime=f"nodejs{major}.x", handler="index.handler")
    assert made.status_code == 201, made.text
    # Then it runs on Node.js NN, as AWS_EXECUTION_ENV says
    ran = invoke(api, name, {}).json()
    assert ran["node"].startswith(f"v{major}."), ran
    assert ran["env"] == f"AWS_Lambda_nodejs{major}.x"


def test_through_the_lambda_api_and_a_runtime_the_server_cannot_run(
    lam: Any, api: httpx.Client
) -> None:
    # When a team creates a Node function with boto3, as it would on AWS
    code = make_zip({"index.mjs": "export const handler = async (e) => ({ got: e });\n"})
    made = lam.create_function(
        FunctionName="boto-node",
        Runtime="nodejs22.x",
        Role="arn:aws:iam::000000000000:role/x",
        Handler="index.handler",
        Code={"ZipFile": code},
    )
    assert made["Runtime"] == "nodejs22.x"
    # Then it runs
    ran = lam.invoke(FunctionName="boto-node", Payload=b'{"a": 1}')
    assert json.loads(ran["Payload"].read()) == {"got": {"a": 1}}
    # And a runtime this server cannot provide is refused, naming those it can
    with pytest.raises(ClientError) as refused:
        lam.create_function(
            FunctionName="py313",
            Runtime="python3.13",
            Role="arn:aws:iam::000000000000:role/x",
            Handler="app.handler",
            Code={"ZipFile": code},
        )
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert "python3.13" in error["Message"] and "nodejs22.x" in error["Message"]
    assert "python3.11" in error["Message"]
    # And through /v1: a 422 naming the field, saying how to get it
    refused_v1 = upload(api, "py313", code, runtime="python3.13", handler="app.handler")
    assert refused_v1.status_code == 422, refused_v1.text
    assert refused_v1.json()["field"] == "runtime"
    assert "docker load" in refused_v1.json()["message"]


# Writes, sleeps 1 s, writes again; through a function URL, its HTTP metadata first.
STREAMS = """
export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const url = event.requestContext !== undefined;
  if (url) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 202, headers: { 'content-type': 'text/plain', 'x-streamed': 'node' },
    });
  } else {
    responseStream.setContentType('text/plain');
  }
  responseStream.write(`first ${context.functionName}\\n`);
  await new Promise((ok) => setTimeout(ok, 1000));
  if (event.fail) throw new Error('broke mid-stream');
  responseStream.write('second\\n');
  responseStream.end();
});
"""


def test_a_streaming_handler_streams_through_both_doors(lam: Any) -> None:
    # Given a Node handler wrapped in awslambda.streamifyResponse, behind a streaming URL
    lam.create_function(
        FunctionName="node-streamer",
        Runtime="nodejs20.x",
        Role=story.ROLE,
        Handler="index.handler",
        Timeout=10,
        Code={"ZipFile": make_zip({"index.mjs": STREAMS})},
    )
    url = lam.create_function_url_config(
        FunctionName="node-streamer", AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )["FunctionUrl"]
    # When boto3 invokes it with a response stream
    answer = lam.invoke_with_response_stream(FunctionName="node-streamer", Payload=b"{}")
    events = [(time.monotonic(), e) for e in answer["EventStream"]]
    chunks = [(at, e["PayloadChunk"]["Payload"]) for at, e in events if "PayloadChunk" in e]
    # Then each write arrived as it was written, a second apart, and the stream completed
    assert b"".join(c for _, c in chunks) == b"first node-streamer\nsecond\n"
    assert chunks[-1][0] - chunks[0][0] >= 0.8
    assert "InvokeComplete" in events[-1][1] and not events[-1][1]["InvokeComplete"].get(
        "ErrorCode"
    )
    # When it fails after its first write, Then the completion carries the error
    failed = lam.invoke_with_response_stream(FunctionName="node-streamer", Payload=b'{"fail": 1}')
    last = list(failed["EventStream"])[-1]["InvokeComplete"]
    assert last["ErrorCode"] == "Error" and "broke mid-stream" in last["ErrorDetails"]
    # When an HTTP client calls the URL, Then the first byte comes before the handler returns
    arrived: list[tuple[float, bytes]] = []
    with httpx.Client(timeout=30) as client, client.stream("GET", url + "x") as streamed:
        for chunk in streamed.iter_raw():
            arrived.append((time.monotonic(), chunk))
    assert streamed.status_code == 202 and streamed.headers["x-streamed"] == "node"
    assert b"".join(c for _, c in arrived) == b"first node-streamer\nsecond\n"
    assert arrived[-1][0] - arrived[0][0] >= 0.8


def test_a_layers_packages_are_found_by_require_and_import(lam: Any) -> None:
    # Given a layer with a package where Lambda's Node.js runtimes look for them
    layer = lam.publish_layer_version(
        LayerName="node-tools",
        Content={
            "ZipFile": make_zip(
                {
                    "nodejs/node_modules/shout/package.json": '{"name": "shout", "main": "i.js"}',
                    "nodejs/node_modules/shout/i.js": "module.exports = (s) => s.toUpperCase();",
                }
            )
        },
    )["LayerVersionArn"]
    # And functions using it, CommonJS and an ES module
    sources = {
        "cjs": {"index.js": "exports.handler = async () => require('shout')('cjs');\n"},
        "esm": {
            "index.mjs": "import { createRequire } from 'node:module';\n"
            "const shout = createRequire(import.meta.url)('shout');\n"
            "export const handler = async () => shout('esm');\n"
        },
    }
    for kind, files in sources.items():
        lam.create_function(
            FunctionName=f"layered-{kind}",
            Runtime="nodejs22.x",
            Role=story.ROLE,
            Handler="index.handler",
            Layers=[layer],
            Code={"ZipFile": make_zip(files)},
        )
        # Then the package loads from /opt/nodejs/node_modules
        ran = lam.invoke(FunctionName=f"layered-{kind}", Payload=b"{}")
        assert json.loads(ran["Payload"].read()) == kind.upper(), ran
