"""A function that streams its response, as the streaming stories deploy it.

Lambda's managed Python runtime does not stream, so this is a ``provided``
function whose ``bootstrap`` is a Python script speaking the Runtime API's
streaming mode itself: ``POST .../response`` with
``Lambda-Runtime-Function-Response-Mode: streaming`` and a chunked body, one
chunk per write, an error as trailers. The event says what to do:

- ``chunks``: the strings to write, in order; ``sleep``: seconds between two writes;
- ``http``: first write the HTTP metadata prelude a function URL reads (the JSON
  ``{"statusCode", "headers", "cookies"}``, 8 NUL bytes), as Node's
  ``awslambda.HttpResponseStream.from`` does: ``status``, ``headers``, ``cookies``;
- ``fail``: end the stream with this error message (``errorType`` ``StreamError``);
- ``die``: exit after the first write, without ending the stream;
- ``die_first``: exit before the first write, which a child of the runtime makes
  50 ms later (what reaches the agent after the runtime's exit is signalled);
- ``bytes``: write this many bytes (in 1 MB writes) instead of ``chunks``;
- ``pid``: first write the runtime's process id (which instance ran it);
- ``buffered``: answer ``{"buffered": event}`` the ordinary way, without streaming.

Called through a function URL, the instructions are the request's JSON body.
"""

from __future__ import annotations

BOOTSTRAP = r"""#!/usr/bin/env python3
import base64, http.client, json, os, socket, sys, time

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
API = "/2018-06-01/runtime/invocation/"


def next_event():
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", API + "next")
    reply = conn.getresponse()
    event = json.loads(reply.read())
    conn.close()
    return reply.getheader("Lambda-Runtime-Aws-Request-Id"), event


def post(rid, body):
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("POST", API + rid + "/response", body=body)
    conn.getresponse().read()
    conn.close()


def stream(rid, event):
    sock = socket.create_connection((host, int(port)))
    kind = "text/plain"
    if event.get("http"):
        kind = "application/vnd.awslambda.http-integration-response"
    sock.sendall((
        f"POST {API}{rid}/response HTTP/1.1\r\nHost: {host}\r\n"
        "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
        "Transfer-Encoding: chunked\r\n"
        f"Content-Type: {kind}\r\n"
        "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n"
    ).encode())

    def write(data):
        sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")

    if event.get("http"):
        prelude = {"statusCode": event.get("status", 200), "headers": event.get("headers", {}),
                   "cookies": event.get("cookies", [])}
        write(json.dumps(prelude).encode() + b"\0" * 8)
    if event.get("pid"):
        write(b"%d;" % os.getpid())
    if "bytes" in event:
        left = event["bytes"]
        while left:
            n = min(left, 1 << 20)
            write(b"x" * n)
            left -= n
    for i, chunk in enumerate(event.get("chunks", [])):
        if i:
            time.sleep(event.get("sleep", 0))
        if event.get("die_first"):
            if os.fork():
                os._exit(3)
            time.sleep(0.05)
            write(chunk.encode())
            os._exit(0)
        write(chunk.encode())
        print(f"wrote chunk {i}", flush=True)
        if event.get("die"):
            os._exit(3)
    if event.get("fail"):
        error = json.dumps({"errorType": "StreamError", "errorMessage": event["fail"]})
        sock.sendall(
            b"0\r\nLambda-Runtime-Function-Error-Type: StreamError\r\n"
            b"Lambda-Runtime-Function-Error-Body: " + base64.b64encode(error.encode()) + b"\r\n\r\n"
        )
    else:
        sock.sendall(b"0\r\n\r\n")
    reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 202"), reply
    sock.close()


while True:
    rid, event = next_event()
    if "requestContext" in event:  # a function URL's event: the body says what to do
        event = json.loads(event.get("body") or "{}")
    if event.get("buffered"):
        post(rid, json.dumps({"buffered": event}).encode())
    else:
        stream(rid, event)
"""
