"""Response streaming (issue 20): a function that streams its response reaches the client
as it writes, through both of Lambda's doors: boto3's ``invoke_with_response_stream``
(AWS's event-stream framing) and a function URL in ``RESPONSE_STREAM`` mode (plain chunked
HTTP, its status and headers from the function's HTTP metadata prelude).

The streaming function is a ``provided.al2023`` function whose bootstrap is a Python script
speaking the Runtime API's streaming mode (``tests.streaming``), as Lambda's managed Python
runtime does not stream. A function that does not stream works through both doors too.
A Node ``awslambda.streamifyResponse`` story can sit beside these with the same helpers.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from tests.e2e import test_lambda_api_story as story
from tests.streaming import BOOTSTRAP
from tests.zips import make_zip

server_env = story.server_env
lam, clients = story.lam, story.clients


def create_streaming(lam: Any, name: str = "streamer", timeout_s: int = 10) -> None:
    lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role=story.ROLE,
        Handler="stream",
        Timeout=timeout_s,
        Code={"ZipFile": make_zip({"bootstrap": BOOTSTRAP}, executable=("bootstrap",))},
    )


def stream_events(lam: Any, name: str, event: dict[str, Any], **params: Any) -> list[Any]:
    """What boto3's invoke_with_response_stream gives, each event with when it arrived."""
    answer = lam.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps(event).encode(), **params
    )
    assert answer["StatusCode"] == 200
    stream = answer["EventStream"]
    try:
        return [(time.monotonic(), e) for e in stream]
    finally:
        stream.close()


def chunks_of(events: list[Any]) -> list[bytes]:
    return [e["PayloadChunk"]["Payload"] for _, e in events if "PayloadChunk" in e]


def complete_of(events: list[Any]) -> dict[str, Any]:
    (_, last) = events[-1]
    assert "InvokeComplete" in last, events
    completed: dict[str, Any] = last["InvokeComplete"]
    return completed


def test_boto3_receives_the_chunks_as_the_function_writes_them(lam: Any) -> None:
    # Given a function that streams its response
    create_streaming(lam)
    # When boto3 invokes it with a stream, the function writing, sleeping 1 s, writing again
    events = stream_events(
        lam, "streamer", {"chunks": ["first ", "second"], "sleep": 1.0}, LogType="Tail"
    )
    # Then boto3 reads PayloadChunk events, the first a second before the last, then
    # InvokeComplete without an error, with the log's tail
    assert b"".join(chunks_of(events)) == b"first second"
    payload_times = [at for at, e in events if "PayloadChunk" in e]
    assert payload_times[-1] - payload_times[0] >= 0.8
    complete = complete_of(events)
    assert "ErrorCode" not in complete
    assert "wrote chunk 1" in base64.b64decode(complete["LogResult"]).decode()

    # When the function fails after its stream began
    events = stream_events(lam, "streamer", {"chunks": ["partial"], "fail": "disk on fire"})
    # Then what it wrote arrives, and InvokeComplete says how it failed, as Lambda does
    assert chunks_of(events) == [b"partial"]
    complete = complete_of(events)
    assert (complete["ErrorCode"], complete["ErrorDetails"]) == ("StreamError", "disk on fire")

    # When a plain Invoke calls the streaming function, Then it gets the payload collected
    answer = lam.invoke(FunctionName="streamer", Payload=b'{"chunks": ["a", "b", "c"]}')
    assert answer["Payload"].read() == b"abc" and "FunctionError" not in answer

    # When a function runs past its timeout in the middle of its stream
    create_streaming(lam, "slowpoke", timeout_s=1)
    events = stream_events(lam, "slowpoke", {"chunks": ["early", "never"], "sleep": 3})
    # Then what it wrote in time arrives, and InvokeComplete says it timed out
    assert chunks_of(events) == [b"early"]
    assert complete_of(events)["ErrorCode"] == "Sandbox.Timedout"

    # And a stream of an unknown function, or of an Event, is refused naming what is wrong
    error = story.error_of(
        lambda: lam.invoke_with_response_stream(FunctionName="nope", Payload=b"{}")
    )
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"
    error = story.error_of(
        lambda: lam.invoke_with_response_stream(
            FunctionName="streamer", Payload=b"{}", InvocationType="Event"
        )
    )
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "InvocationType" in error.response["Error"]["Message"]


def test_a_response_stream_url_gives_the_first_byte_before_the_handler_returns(
    lam: Any,
) -> None:
    # Given a streaming function behind a function URL in RESPONSE_STREAM mode
    create_streaming(lam)
    made = lam.create_function_url_config(
        FunctionName="streamer", AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )
    assert made["InvokeMode"] == "RESPONSE_STREAM"
    assert lam.get_function_url_config(FunctionName="streamer")["InvokeMode"] == "RESPONSE_STREAM"
    # When a client asks, the function setting its status, headers and a cookie in its
    # HTTP metadata, then writing, sleeping 1 s and writing again
    ask = {
        "http": True,
        "status": 201,
        "headers": {"content-type": "text/plain", "x-stream": "yes"},
        "cookies": ["session=abc; Path=/"],
        "chunks": ["hello, ", "world"],
        "sleep": 1.0,
    }
    arrived: list[tuple[float, bytes]] = []
    with httpx.Client(timeout=30) as client:
        sent = time.monotonic()
        with client.stream("POST", made["FunctionUrl"] + "anything", json=ask) as answer:
            for chunk in answer.iter_raw():
                arrived.append((time.monotonic(), chunk))
    # Then its status, headers and cookie are the ones its metadata asked for
    assert answer.status_code == 201
    assert answer.headers["content-type"] == "text/plain"
    assert answer.headers["x-stream"] == "yes"
    assert answer.headers["set-cookie"] == "session=abc; Path=/"
    assert answer.headers["transfer-encoding"] == "chunked"
    # And the body, whose first byte came before the handler's sleep ended
    assert b"".join(chunk for _, chunk in arrived) == b"hello, world"
    first_at, last_at = arrived[0][0], arrived[-1][0]
    assert last_at - first_at >= 0.8, (first_at - sent, last_at - sent)

    # When a client leaves after the first chunk
    with httpx.Client(timeout=30) as client:
        slow = {"pid": True, "chunks": ["a", "b", "c"], "sleep": 0.5}
        with client.stream("POST", made["FunctionUrl"], json=slow) as answer:
            pid = next(answer.iter_raw()).split(b";")[0]
        # Then the invocation runs to its end, and its instance serves the next call warm
        time.sleep(1.5)
        again = client.post(made["FunctionUrl"], json={"pid": True, "chunks": ["!"]})
    assert again.content == pid + b";!"
    # When the stream has no HTTP metadata, Then it is a 200 of the stream's content type
    with httpx.Client(timeout=30) as client:
        plain = client.post(made["FunctionUrl"], json={"chunks": ["just ", "text"]})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/plain"
    assert plain.text == "just text"


WEB = """
import json
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"path": event.get("rawPath"), "buffered": True})}
"""


def test_a_function_that_does_not_stream_works_through_both_doors(lam: Any) -> None:
    # Given a Python function that returns its response at once
    story.create(lam, "web", WEB)
    # When boto3 invokes it with a stream, Then its whole payload is one chunk, as on Lambda
    events = stream_events(lam, "web", {})
    [payload] = chunks_of(events)
    assert json.loads(payload)["statusCode"] == 200
    assert "ErrorCode" not in complete_of(events)
    # And its error is reported in InvokeComplete, with no chunk
    events = stream_events(lam, "web", {"fail": True})
    assert chunks_of(events) == []
    complete = complete_of(events)
    assert (complete["ErrorCode"], complete["ErrorDetails"]) == ("ValueError", "asked to fail")
    # When its URL is in RESPONSE_STREAM mode, Then its proxy response is answered as usual
    made = lam.create_function_url_config(
        FunctionName="web", AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )
    with httpx.Client(timeout=30) as client:
        answer = client.get(made["FunctionUrl"] + "orders")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"path": "/orders", "buffered": True}
