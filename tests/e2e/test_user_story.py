"""The user's story over HTTP: `faas serve`, upload a zip, invoke it, manage it."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from faas.settings import Settings
from tests.helpers import Server, handler_zip, ours, upload

HELLO = "def handler(event, context):\n    return {'hello': event.get('name')}\n"


def test_upload_then_invoke_returns_the_handlers_value(api: httpx.Client) -> None:
    # Given a zip holding app.py with a handler, uploaded with curl's -F fields
    created = upload(api, "hello", handler_zip(HELLO))
    assert created.status_code == 201, created.text
    fn = created.json()
    assert fn["name"] == "hello" and fn["memory_mb"] == 128 and fn["timeout_s"] == 3
    assert len(fn["code_sha256"]) == 64 and fn["code_size"] > 0
    # When it is invoked with a JSON event
    first = api.post("/v1/functions/hello/invoke", content=b'{"name": "x"}')
    second = api.post("/v1/functions/hello/invoke", content=b'{"name": "y"}')
    # Then the handler's return value comes back as JSON, cold then warm
    assert first.status_code == 200, first.text
    assert first.json() == {"hello": "x"} and second.json() == {"hello": "y"}
    assert first.headers["X-Faas-Cold-Start"] == "true"
    assert second.headers["X-Faas-Cold-Start"] == "false"
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_the_management_api_round_trips_a_function(api: httpx.Client, server: Server) -> None:
    code = handler_zip(HELLO)
    assert upload(api, "managed", code, memory_mb="256", env='{"A": "1"}').status_code == 201
    # A second upload of the same name conflicts
    assert upload(api, "managed", code).status_code == 409
    # It is listed and readable
    assert [f["name"] for f in api.get("/v1/functions").json()["functions"]] == ["managed"]
    got = api.get("/v1/functions/managed").json()
    assert got["memory_mb"] == 256 and got["env"] == {"A": "1"}
    # The code comes back byte for byte
    assert api.get("/v1/functions/managed/code").content == code
    # Config changes; a value out of range names its field
    patched = api.patch("/v1/functions/managed", json={"timeout_s": 10})
    assert patched.status_code == 200 and patched.json()["timeout_s"] == 10
    bad = api.patch("/v1/functions/managed", json={"memory_mb": 64})
    assert bad.status_code == 422 and bad.json()["field"] == "memory_mb"
    # New code as a raw zip body
    new_code = handler_zip("def handler(e, c):\n    return 'v2'\n")
    put = api.put(
        "/v1/functions/managed/code", content=new_code, headers={"content-type": "application/zip"}
    )
    assert put.status_code == 200 and put.json()["code_sha256"] != got["code_sha256"]
    assert api.post("/v1/functions/managed/invoke", content=b"{}").json() == "v2"
    # Delete answers 204 and leaves no container
    assert ours(server.env["FAAS_NODE_ID"], "managed")
    assert api.delete("/v1/functions/managed").status_code == 204
    assert ours(server.env["FAAS_NODE_ID"], "managed") == []
    assert api.get("/v1/functions/managed").status_code == 404


def test_function_errors_have_lambdas_shape(api: httpx.Client) -> None:
    upload(api, "boom", handler_zip("def handler(e, c):\n    raise KeyError('nope')\n"))
    upload(
        api,
        "stuck",
        handler_zip("import time\ndef handler(e, c):\n    time.sleep(e.get('s', 0))\n"),
        timeout_s="1",
    )
    raised = api.post("/v1/functions/boom/invoke", content=b"{}")
    assert raised.status_code == 500
    assert raised.headers["X-Faas-Function-Error"] == "Unhandled"
    body = raised.json()
    assert body["errorType"] == "KeyError" and body["requestId"] == raised.headers["X-Request-Id"]
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]
    api.post("/v1/functions/stuck/invoke", content=b"{}")
    timed_out = api.post("/v1/functions/stuck/invoke", content=b'{"s": 20}')
    assert timed_out.status_code == 504
    assert timed_out.json()["errorType"] == "Sandbox.Timedout"
    assert timed_out.json()["errorMessage"] == "Task timed out after 1.00 seconds"


def test_bad_invocations_get_clear_errors(api: httpx.Client) -> None:
    upload(api, "target", handler_zip(HELLO))
    missing = api.post("/v1/functions/nope/invoke", content=b"{}")
    assert missing.status_code == 404 and "nope" in missing.json()["message"]
    not_json = api.post("/v1/functions/target/invoke", content=b"{not json")
    assert not_json.status_code == 400 and "JSON" in not_json.json()["message"]
    huge = api.post("/v1/functions/target/invoke", content=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert huge.status_code == 413
    nested = api.post("/v1/functions/target/invoke", content=b"[" * 100_000)
    assert nested.status_code == 400 and "JSON" in nested.json()["message"]
    paused = api.patch("/v1/functions/target", json={"concurrency": 0})
    assert paused.status_code == 200
    throttled = api.post("/v1/functions/target/invoke", content=b"{}")
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1


def _zip_with(info: zipfile.ZipInfo, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", HELLO)
        zf.writestr(info, data)
    return buf.getvalue()


def _special(name: str, mode: int) -> bytes:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return _zip_with(info, b"target")


def _bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", HELLO)
        zf.writestr("zeros.bin", b"\0" * (300 * 1024 * 1024))
    return buf.getvalue()


def _many_entries() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(10_001):
            zf.writestr(f"f/{i}", b"")
    return buf.getvalue()


def _corrupt() -> bytes:
    data = bytearray(handler_zip(HELLO * 50))
    data[60:80] = b"\xff" * 20  # inside the compressed data: the CRC cannot match
    return bytes(data)


# Built lazily: a bomb takes a moment to make.
BAD_UPLOADS: dict[str, tuple[Callable[[], bytes], int]] = {
    "not a zip": (lambda: b"this is plain text, not a zip", 400),
    "truncated zip": (lambda: handler_zip(HELLO * 50)[:-30], 400),
    "corrupt zip": (_corrupt, 400),
    "absolute path": (lambda: _zip_with(zipfile.ZipInfo("/etc/evil")), 400),
    "dot-dot path": (lambda: _zip_with(zipfile.ZipInfo("../../evil")), 400),
    "symlink": (lambda: _special("link", stat.S_IFLNK | 0o777), 400),
    "device file": (lambda: _special("dev", stat.S_IFCHR | 0o644), 400),
    "zip bomb": (_bomb, 413),
    "too many entries": (_many_entries, 413),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_are_rejected_and_nothing_is_stored(
    api: httpx.Client, settings: Settings, case: str
) -> None:
    make, status = BAD_UPLOADS[case]
    response = upload(api, "bad", make())
    assert response.status_code == status, response.text
    assert response.json()["message"]
    assert api.get("/v1/functions/bad").status_code == 404
    stored = [p for p in (settings.data_dir / "code").rglob("*") if p.is_file()]
    assert stored == []


def test_oversized_and_incomplete_uploads_are_refused(api: httpx.Client) -> None:
    too_big = upload(api, "big", b"\0" * (51 * 1024 * 1024))
    assert too_big.status_code == 413

    # The same without a Content-Length (chunked): cut off at the limit, still a 413
    def chunked() -> Iterator[bytes]:
        boundary = b"--b\r\n"
        yield boundary + b'Content-Disposition: form-data; name="code"; filename="c.zip"\r\n\r\n'
        for _ in range(53):
            yield b"\0" * (1024 * 1024)

    streamed = api.post(
        "/v1/functions",
        content=chunked(),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert streamed.status_code == 413 and streamed.json()["error"] == "PayloadTooLarge"
    no_handler = api.post(
        "/v1/functions",
        data={"name": "x", "runtime": "python3.11"},
        files={"code": ("c.zip", handler_zip(HELLO))},
    )
    assert no_handler.status_code == 422 and no_handler.json()["field"] == "handler"
    bad_name = upload(api, "bad name!", handler_zip(HELLO))
    assert bad_name.status_code == 422 and bad_name.json()["field"] == "name"
    bad_memory = upload(api, "mem", handler_zip(HELLO), memory_mb="99999")
    assert bad_memory.status_code == 422 and bad_memory.json()["field"] == "memory_mb"
    bad_env = upload(api, "env", handler_zip(HELLO), env=json.dumps({"A": "x" * 5000}))
    assert bad_env.status_code == 422 and bad_env.json()["field"] == "env"


def test_a_restart_keeps_functions_and_reaps_orphans(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    node = server_env["FAAS_NODE_ID"]
    first = Server(server_env, tmp_path / "first.log")
    first.start()
    with httpx.Client(base_url=first.url, timeout=60) as api:
        assert upload(api, "durable", handler_zip(HELLO)).status_code == 201
        assert api.post("/v1/functions/durable/invoke", content=b'{"name": "a"}').status_code == 200
    orphans = ours(node, "durable")
    assert len(orphans) == 1
    # When the server dies without cleaning up
    first.kill()
    assert ours(node, "durable") == orphans
    # Then a new server reaps the orphan and still knows the function
    second = Server(server_env, tmp_path / "second.log")
    second.start()
    try:
        assert not set(orphans) & set(ours(node))
        with httpx.Client(base_url=second.url, timeout=60) as api:
            again = api.post("/v1/functions/durable/invoke", content=b'{"name": "b"}')
            assert again.status_code == 200 and again.json() == {"hello": "b"}
    finally:
        assert second.stop() == 0
    # and a clean shutdown leaves none of ours
    assert ours(node) == []
