"""A client of the faas REST API: one method per call, what the ``faas`` CLI speaks.

Every refusal comes back as ``ApiError``, carrying the HTTP status (0 when the
server could not be reached or did not answer) and the server's ``error`` and
``message`` (``gateway/errors.py``). A function that failed is not an error of
the API: ``invoke`` returns it as an ``Invoked`` with ``function_error`` set,
because the server worked as intended when it reports one.

``zip_dir`` packs a folder the way ``faas deploy`` uploads it.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
CHUNK = 64 * 1024
# Long enough for the longest function timeout (900 s) plus a cold start and a
# throttle wait; the server, not the client, decides when a function timed out.
INVOKE_READ_TIMEOUT_S = 960.0
# Zip entries carry this date so the same folder always gives the same bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc",)

Progress = Callable[[int, int], None]
"""Told ``(bytes done, bytes in all)`` as an upload (or a zip) goes."""


class ApiError(Exception):
    """The server refused or failed a call; ``status`` 0 means it was not reached."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


@dataclass(frozen=True)
class Invoked:
    """What a synchronous invoke answered: the body as sent, and what its headers say."""

    status: int
    body: bytes
    request_id: str | None
    function_error: str | None
    log_tail: str | None


class Client:
    """The REST API of one server, over one ``httpx.Client``."""

    def __init__(self, url: str = DEFAULT_URL, key: str | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(60.0, connect=10.0)
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Functions

    def create_function(
        self,
        name: str,
        runtime: str,
        handler: str,
        code: bytes,
        *,
        memory_mb: int | None = None,
        timeout_s: int | None = None,
        env: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/functions``: register a function with its zip (409 if it exists)."""
        fields = {"name": name, "runtime": runtime, "handler": handler}
        if memory_mb is not None:
            fields["memory_mb"] = str(memory_mb)
        if timeout_s is not None:
            fields["timeout_s"] = str(timeout_s)
        if env is not None:
            fields["env"] = json.dumps(env)
        upload = _ReportingBytes(code, progress)
        files = {"code": ("code.zip", upload, "application/zip")}
        return _object(self._call("POST", "/v1/functions", data=fields, files=files))

    def update_code(
        self, name: str, code: bytes, *, progress: Progress | None = None
    ) -> dict[str, Any]:
        """``PUT /v1/functions/{name}/code`` with the zip as the body."""
        headers = {"Content-Type": "application/zip", "Content-Length": str(len(code))}
        return _object(
            self._call("PUT", f"{_fn(name)}/code", content=_chunks(code, progress), headers=headers)
        )

    def update_config(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /v1/functions/{name}``: change the given config fields."""
        return _object(self._call("PATCH", _fn(name), json=changes))

    def list_functions(self) -> dict[str, Any]:
        return _object(self._call("GET", "/v1/functions"))

    def get_function(self, name: str) -> dict[str, Any]:
        return _object(self._call("GET", _fn(name)))

    def delete_function(self, name: str) -> None:
        self._call("DELETE", _fn(name))

    # Invoking

    def invoke(self, name: str, event: bytes, *, tail: bool = False) -> Invoked:
        """Run the function and wait: its result, or the function's error as an ``Invoked``."""
        headers = {"Content-Type": "application/json"}
        if tail:
            headers["X-Faas-Log-Type"] = "Tail"
        timeout = httpx.Timeout(60.0, connect=10.0, read=INVOKE_READ_TIMEOUT_S)
        response = self._send(
            "POST", f"{_fn(name)}/invoke", content=event, headers=headers, timeout=timeout
        )
        function_error = response.headers.get("X-Faas-Function-Error")
        if function_error is None:
            _check(response)
        return Invoked(
            status=response.status_code,
            body=response.content,
            request_id=response.headers.get("X-Request-Id"),
            function_error=function_error,
            log_tail=_log_tail(response.headers.get("X-Faas-Log-Result")),
        )

    def invoke_async(self, name: str, event: bytes) -> dict[str, Any]:
        """Queue the event (202): ``{"requestId": ...}``."""
        headers = {"Content-Type": "application/json", "X-Faas-Invocation-Type": "Event"}
        return _object(self._call("POST", f"{_fn(name)}/invoke", content=event, headers=headers))

    # Logs

    def logs(
        self,
        name: str,
        *,
        since: str | None = None,
        request_id: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """``{"logs": [entry, ...]}``, oldest first."""
        params = _log_params(since, request_id, limit)
        return _object(self._call("GET", f"{_fn(name)}/logs", params=params))

    def follow_logs(
        self,
        name: str,
        *,
        since: str | None = None,
        request_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Log entries as the server streams them (NDJSON), until it closes the stream."""
        params = {**_log_params(since, request_id, limit), "follow": "1"}
        # The stream stays open between invocations: no read timeout.
        timeout = httpx.Timeout(60.0, connect=10.0, read=None)
        with self._errors():
            with self._http.stream(
                "GET", f"{_fn(name)}/logs", params=params, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _check(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield _entry(line)

    # Dead letters and schedules

    def dead_letters(self, name: str) -> dict[str, Any]:
        """``{"total", "offset", "limit", "items": [dead letter, ...]}``, oldest first."""
        return _object(self._call("GET", f"{_fn(name)}/dead-letters"))

    def redrive(self, name: str) -> dict[str, Any]:
        """Queue every dead letter again: ``{"redriven": [request ids]}``."""
        return _object(self._call("POST", f"{_fn(name)}/dead-letters/redrive", json={}))

    def get_schedules(self, name: str) -> dict[str, Any]:
        return _object(self._call("GET", f"{_fn(name)}/schedules"))

    def put_schedules(self, name: str, rules: Any) -> dict[str, Any]:
        return _object(self._call("PUT", f"{_fn(name)}/schedules", json=rules))

    # The edge: httpx's exceptions become ApiError here and nowhere else.

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._send(method, path, **kwargs)
        _check(response)
        return response

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._errors():
            return self._http.request(method, path, **kwargs)

    def _errors(self) -> _TransportErrors:
        return _TransportErrors(self.url)


class _TransportErrors:
    """Turns httpx's transport failures into ``ApiError(0, ...)`` naming the server."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, httpx.TimeoutException):
            raise ApiError(0, "Timeout", f"the server at {self.url} did not answer in time")
        if isinstance(exc, httpx.ConnectError):
            raise ApiError(0, "ConnectError", f"cannot connect to the server at {self.url}: {exc}")
        if isinstance(exc, httpx.TransportError):
            raise ApiError(0, type(exc).__name__, f"talking to the server at {self.url}: {exc}")


def _fn(name: str) -> str:
    return f"/v1/functions/{name}"


def _check(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    error, message = "HTTPError", ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = str(body.get("error") or error)
        message = str(body.get("message") or "")
    if not message:
        # Not our server's JSON (a proxy's page?): show the start of what came back.
        text = response.text.strip()[:200]
        message = f"HTTP {response.status_code}" + (f": {text}" if text else "")
    raise ApiError(response.status_code, error, message)


def _object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object; anything else means the URL is not a faas server."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(
            response.status_code,
            "BadResponse",
            f"{response.request.url} did not answer with a JSON object; is it a faas server?",
        )
    return body


def _entry(line: str) -> dict[str, Any]:
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        raise ApiError(200, "BadResponse", f"the log stream sent a line that is not JSON: {line}")
    return entry


def _log_params(since: str | None, request_id: str | None, limit: int | None) -> dict[str, str]:
    params = {"since": since, "request_id": request_id, "limit": limit}
    return {k: str(v) for k, v in params.items() if v is not None}


def _log_tail(header: str | None) -> str | None:
    if header is None:
        return None
    try:
        return base64.b64decode(header, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return header


def _chunks(data: bytes, progress: Progress | None) -> Iterator[bytes]:
    """``data`` in chunks, telling ``progress`` once each has been sent."""
    for start in range(0, len(data), CHUNK):
        chunk = data[start : start + CHUNK]
        yield chunk
        if progress is not None:
            progress(start + len(chunk), len(data))


class _ReportingBytes(io.BytesIO):
    """A multipart file that tells ``progress`` how far httpx has read it."""

    def __init__(self, data: bytes, progress: Progress | None) -> None:
        super().__init__(data)
        self._total = len(data)
        self._progress = progress

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        if chunk and self._progress is not None:
            self._progress(self.tell(), self._total)
        return chunk


def zip_dir(root: Path, progress: Progress | None = None) -> bytes:
    """The folder as a zip: files in path order, modes kept, caches left out;
    ``progress`` is told ``(bytes zipped, bytes in all)`` of the files as it goes.

    Entries carry a fixed date, so the same files always give the same bytes
    (and the server's code hash changes only when the code does).
    """
    files = [(name, path, path.stat()) for name, path in _files(root)]
    total, done = sum(st.st_size for _, _, st in files), 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path, st in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.create_system = 3  # Unix: external_attr carries st_mode
            info.external_attr = (stat.S_IFREG | stat.S_IMODE(st.st_mode)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
            done += st.st_size
            if progress is not None:
                progress(min(done, total), total)
    return buffer.getvalue()


def _files(root: Path) -> list[tuple[str, Path]]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS]
        for filename in filenames:
            if filename.endswith(SKIPPED_SUFFIXES):
                continue
            path = Path(dirpath) / filename
            found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)
