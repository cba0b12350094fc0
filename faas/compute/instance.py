"""A warm instance: one sandbox, its socket client, and the rules of its use.

``Instance`` is the safe wrapper around a sandbox: any error while talking to
it (transport failure, timeout, an agent that says it is broken) destroys the
container and tells the listeners (the scheduler's bookkeeping, metrics). A
destroyed instance never serves again.

The platform reaches the agent with HTTP/1.1 on the connection the sandbox
hands out, keeping one open per instance (``faas.compute.agent_client``,
``docs/container-protocol.md``). Once init is over, a runtime that serves its
own socket beside the agent's (our Python runtime does) gets the invokes there:
the agent is then out of their way, and asked how an invocation ended only if
that socket fails in the middle of one.

A function that streams its response answers chunk by chunk (docs/container-protocol.md,
"Streamed answers"): the chunks go to the request's ``sink`` as they arrive, and
the result that follows carries the error and output the trailers told.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from faas.compute.agent_client import (
    AgentClient,
    AgentError,
    AgentReply,
    AgentTimeout,
    ChunkSink,
    StreamTooLarge,
)
from faas.compute.backend import Backend, Sandbox
from faas.errors import BackendError
from faas.outcomes import InvocationResult, Outcome, error_payload

# How long the agent may take to tell how an invocation ended whose direct socket
# failed: the runtime has exited (the kernel closed its socket), so the agent's
# reaping of it is a matter of milliseconds.
LOST_WAIT_S = 5.0


class InstanceState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


@dataclass(frozen=True)
class InvokeRequest:
    """One event for one instance."""

    request_id: str
    event: bytes
    timeout_s: float
    function_arn: str
    cold_start: bool
    # 1 for a sync call; the async attempt number otherwise (docs/async.md).
    attempt: int = 1
    # The caller's ClientContext (base64 JSON, as the Lambda API's X-Amz-Client-Context).
    client_context: str | None = None
    # Where a streamed answer's chunks go as they arrive; None: collected (within 6 MB).
    sink: ChunkSink | None = None


Listener = Callable[["Instance", str], Awaitable[None]]


class Instance:
    """A started sandbox that runs one invocation at a time."""

    def __init__(self, sandbox: Sandbox, backend: Backend, on_destroy: Listener) -> None:
        self.sandbox = sandbox
        self.state = InstanceState.STARTING
        self.last_used = time.monotonic()
        self.invocations = 0
        self.init_failed = False
        # Whether its last invocation ran into the container's CPU quota (the agent says).
        self.cpu_throttled = False
        self._backend = backend
        self._on_destroy = on_destroy
        self._client = sandbox.client()
        # The runtime's own socket, once init is over, if it serves one.
        self._direct: AgentClient | None = None
        # The removal of its sandbox, once ``destroy`` began it.
        self._removal: asyncio.Future[None] | None = None

    @property
    def pool_key(self) -> str:
        return self.sandbox.spec.pool_key

    @property
    def idle(self) -> bool:
        return self.state is InstanceState.IDLE

    @property
    def function(self) -> str:
        return self.sandbox.spec.function

    async def wait_initialized(self, timeout_s: float) -> float | None:
        """Wait for the runtime's init phase, and for the backend's work on the sandbox
        (``Sandbox.settled``); return the init's duration in ms.

        A runtime that fails init is not an error here: the invoke that follows
        reports the init error the way Lambda does.
        """
        self._check_alive()
        try:
            reply = await self._client.request("GET", "/ready", timeout_s=timeout_s)
        except AgentTimeout:
            await self.destroy("init timed out")
            raise BackendError(f"runtime init did not finish within {timeout_s:g}s") from None
        except AgentError as exc:
            await self.destroy(f"agent unreachable: {exc}")
            raise BackendError(f"container agent unreachable during init: {exc}") from exc
        self.init_failed = reply.status != 200 or b'"broken"' in reply.body
        direct = reply.headers.get("x-faas-direct", "")
        if not self.init_failed and direct:
            self._direct = self.sandbox.direct_client(direct)
        try:
            await self.sandbox.settled()
        except BackendError as exc:
            await self.destroy(f"its backend failed it: {exc}")
            raise
        raw = reply.headers.get("x-init-duration-ms")
        return float(raw) if raw else None

    def _check_alive(self) -> None:
        # Removed while this call waited (function deleted, server stopping).
        if self.state is InstanceState.DEAD:
            raise BackendError("the function's container was removed before it could run")

    async def invoke(self, request: InvokeRequest) -> InvocationResult:
        """Run one event; a result for every function outcome, ``BackendError`` otherwise."""
        started = time.monotonic()
        deadline_ms = int((time.time() + request.timeout_s) * 1000)
        headers = {
            "X-Request-Id": request.request_id,
            "X-Deadline-Ms": str(deadline_ms),
            "X-Invoked-Function-Arn": request.function_arn,
            "X-Faas-Attempt": str(request.attempt),
            "X-Faas-Capture-Log": "1",
            "Content-Type": "application/json",
        }
        if request.client_context:
            headers["X-Client-Context"] = request.client_context
        self._check_alive()
        self.invocations += 1
        try:
            reply = await self._exchange(request.event, headers, request.timeout_s, request.sink)
        except StreamTooLarge as exc:
            await self.destroy("its streamed response was too large")
            message = (
                f"Response payload size exceeded maximum allowed payload size ({exc.limit} bytes)."
            )
            payload = error_payload("Function.ResponseSizeTooLarge", message)
            return self._result(request, Outcome.FUNCTION_ERROR, payload, started)
        except AgentTimeout:
            await self.destroy("timed out")
            return self._result(
                request,
                Outcome.TIMEOUT,
                error_payload(
                    "Sandbox.Timedout", f"Task timed out after {request.timeout_s:.2f} seconds"
                ),
                started,
            )
        except AgentError as exc:
            # The agent is gone: the container died under us (often the OOM killer).
            oom = await self._oom_killed()
            await self.destroy(f"agent connection failed: {exc}")
            if oom:
                return self._out_of_memory(request, started)
            raise BackendError(f"the function's container failed: {exc}") from exc
        if reply.status != 200:
            await self.destroy(f"agent answered {reply.status}")
            text = reply.body[:200].decode("utf-8", "replace")
            raise BackendError(f"container agent answered {reply.status}: {text}")
        # The agent reports init on a container's first invoke; only a cold call paid for it.
        init_ms = reply.headers.get("x-init-duration-ms") if request.cold_start else None
        self.cpu_throttled = "x-faas-cpu-throttled" in reply.headers
        broken = reply.headers.get("x-sandbox-broken") == "1"
        output, payload = _split_output(reply)
        if reply.headers.get("x-function-error"):
            outcome = Outcome.FUNCTION_ERROR
            if b"Runtime.OutOfMemory" in payload[:200]:
                outcome = Outcome.OUT_OF_MEMORY
            elif broken and await self._oom_killed():
                await self.destroy("out of memory")
                return self._out_of_memory(request, started)
        else:
            outcome = Outcome.SUCCESS
        if broken:
            await self.destroy("agent reported a broken runtime")
        return self._result(
            request, outcome, payload, started, float(init_ms) if init_ms else None, output
        )

    async def _exchange(
        self,
        event: bytes,
        headers: dict[str, str],
        timeout_s: float,
        sink: ChunkSink | None = None,
    ) -> AgentReply:
        """The invoke's reply: from the runtime's own socket if it serves one, else the agent's."""
        if self._direct is None:
            return await self._client.request(
                "POST", "/invoke", body=event, headers=headers, timeout_s=timeout_s, sink=sink
            )
        try:
            return await self._direct.request(
                "POST", "/invoke", body=event, headers=headers, timeout_s=timeout_s, sink=sink
            )
        except (AgentTimeout, StreamTooLarge):
            raise
        except AgentError:
            pass
        # The runtime went away mid-invoke (exited, killed, out of memory): the agent
        # reaps it and says how the invocation ended, with its output.
        try:
            return await self._client.request(
                "GET", "/lost", headers=headers, timeout_s=LOST_WAIT_S
            )
        except AgentTimeout as exc:  # the runtime lives on, yet dropped the call: broken
            raise AgentError(f"the runtime dropped the invocation: {exc}") from exc

    def _out_of_memory(self, request: InvokeRequest, started: float) -> InvocationResult:
        mb = self.sandbox.spec.memory_mb
        payload = error_payload(
            "Runtime.OutOfMemory", f"Runtime exited: the function used more than {mb} MB"
        )
        return self._result(request, Outcome.OUT_OF_MEMORY, payload, started)

    def _result(
        self,
        request: InvokeRequest,
        outcome: Outcome,
        payload: bytes,
        started: float,
        init_ms: float | None = None,
        output: bytes = b"",
    ) -> InvocationResult:
        return InvocationResult(
            request_id=request.request_id,
            outcome=outcome,
            payload=payload,
            cold_start=request.cold_start,
            duration_ms=(time.monotonic() - started) * 1000,
            init_duration_ms=init_ms,
            output=output,
        )

    async def _oom_killed(self) -> bool:
        try:
            return await self._backend.was_oom_killed(self.sandbox)
        except BackendError:
            return False

    async def destroy(self, reason: str) -> None:
        """Remove the container (once) and tell the listener why.

        The removal goes on if the caller is cancelled (upkeep stopped at shutdown), and
        a second call returns once it is over, not at once: whoever asks (a function's
        deletion, shutdown) may count on the container being gone.
        """
        if self._removal is not None:
            await asyncio.wait({self._removal})
            return
        self.state = InstanceState.DEAD
        self._removal = asyncio.ensure_future(self._remove(reason))
        # Retrieved so that a failure whose caller was cancelled is no warning.
        self._removal.add_done_callback(lambda f: f.cancelled() or f.exception())
        await asyncio.shield(self._removal)

    async def _remove(self, reason: str) -> None:
        try:
            self._client.close()
            if self._direct is not None:
                self._direct.close()
            await self._backend.destroy(self.sandbox)
        finally:
            await self._on_destroy(self, reason)


def _split_output(reply: AgentReply) -> tuple[bytes, bytes]:
    """(the function's output, the result): the agent puts the output first in the body;
    a streamed answer has both in its trailers (the error), or the result in its body."""
    if reply.streamed:
        return _streamed_output(reply)
    content = reply.body
    length = reply.headers.get("x-faas-log-length", "0")
    n = int(length) if length.isdigit() else 0
    return content[:n], content[n:]


def _streamed_output(reply: AgentReply) -> tuple[bytes, bytes]:
    headers = reply.headers
    output = _unbase64(headers.get("x-faas-output", ""))
    if headers.get("x-function-error"):
        error = _unbase64(headers.get("x-faas-error", ""))
        return output, error or error_payload("Runtime.Unknown", "the stream failed")
    return output, reply.body


def _unbase64(value: str) -> bytes:
    """A trailer's bytes; a runtime's garbled one is taken as none (its invocation ran)."""
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        return b""
