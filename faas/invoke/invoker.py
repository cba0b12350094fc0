"""Invocation: every way a function is called, down to the one path they all take.

A sync invoke, an HTTP request to ``/fn/{name}/...`` and an event the worker
took from the queue all go through ``Invoker.run``: the scheduler runs the
event in a sandbox (``faas.compute.scheduler``), then the invocation's log is
framed and kept (``faas.catalog.logs``, written behind it, batched) and its
outcome counted for the console (``faas.stats``: in memory, written once a
second; a call forwarded to a peer is counted there, where it ran). A call
that streams the response (``stream``) takes the same path, its chunks passed
up as they arrive (``faas.invoke.streaming``). An async
invoke only queues the event (``faas.invoke.asyncq.queue``); the worker runs
it later through ``run``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import uuid
from collections.abc import Awaitable

from faas.auth import Access
from faas.catalog import logs as function_logs
from faas.catalog.logs import LogRecord, LogStore
from faas.catalog.qualifiers import Qualifiers
from faas.catalog.registry import Registry
from faas.cluster.routing import Router
from faas.compute.agent_client import ChunkSink
from faas.compute.lambda_env import function_arn
from faas.compute.scheduler import OnStart, Scheduler
from faas.errors import FaasError, Throttled
from faas.invoke.asyncq.queue import Queue
from faas.invoke.asyncq.records import Invocation
from faas.invoke.http import trigger as http_trigger
from faas.invoke.http.apigw import Context, HttpRequest
from faas.invoke.http.responses import HttpResponse
from faas.invoke.streaming import Stream
from faas.models import LATEST, FunctionSpec
from faas.outcomes import InvocationResult, Outcome
from faas.platform_log import invocation_context
from faas.settings import Settings
from faas.stats import Recorder

# The kinds of call worth forwarding: a client waits for each.
_FORWARDED = frozenset({"sync", "http"})


class Invoker:
    """Runs functions: sync, over HTTP, or queued for the worker."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        scheduler: Scheduler,
        queue: Queue,
        logs: LogStore,
        access: Access,
        qualifiers: Qualifiers,
        router: Router | None = None,
        *,
        stats: Recorder,
    ) -> None:
        """``router`` forwards a call that would start cold here to a member with a warm
        instance (``faas.cluster.routing``), if warm routing is on; ``stats`` counts each
        invocation's outcome."""
        self._settings = settings
        self._stats = stats
        self._router = router
        self._registry = registry
        self._qualifiers = qualifiers
        self._scheduler = scheduler
        self._queue = queue
        self._logs = logs
        self._access = access

    async def run(
        self,
        spec: FunctionSpec,
        event: bytes,
        request_id: str,
        on_start: OnStart | None = None,
        kind: str = "sync",
        client_context: str | None = None,
        sink: ChunkSink | None = None,
        *,
        forward: bool = True,
    ) -> InvocationResult:
        """Every invocation, whatever asked for it: run it, then keep its log.

        The result's ``log`` is the stored record's text (for ``X-Faas-Log-Type: Tail``).
        A streamed response goes to ``sink`` as it arrives (``stream``). A call that
        waits for its answer and would start cold here runs on a member with a warm
        instance, which keeps its log (``forward``: False for a call forwarded here).
        """
        router = self._router
        if (
            router is not None
            and forward
            and kind in _FORWARDED
            and on_start is None
            and sink is None
            and not self._scheduler.has_instance(spec)
        ):
            forwarded = await router.forward(spec, event, request_id, kind, client_context)
            if forwarded is not None:
                return forwarded
        with invocation_context(request_id, spec.name):
            start = time.time()
            try:
                result = await self._scheduler.invoke(
                    spec, event, request_id, on_start, kind, client_context, sink
                )
            except Throttled:
                self._stats.throttle(spec.name)
                raise
            except FaasError:  # the platform could not run it: an error the user sees
                self._stats.invocation(spec.name, None, error=True, cold=False)
                raise
            end = time.time()
            self._stats.invocation(
                spec.name,
                result.duration_ms,
                error=result.outcome is not Outcome.SUCCESS,
                cold=result.cold_start,
            )
            text = function_logs.frame(
                result, spec.config.memory_mb, self._logs.max_bytes, end, spec.version
            )
            record = LogRecord(
                request_id=request_id,
                function=spec.name,
                kind=kind,
                outcome=result.outcome.value,
                start=start,
                end=end,
                duration_ms=result.duration_ms,
                text=text,
            )
            self._logs.add(record)  # written behind the invocation, batched
            return dataclasses.replace(result, log=text)

    def stream(
        self,
        spec: FunctionSpec,
        event: bytes,
        request_id: str,
        kind: str = "sync",
        client_context: str | None = None,
    ) -> Stream:
        """Run ``spec`` for a caller that takes the response as the function streams it."""

        def run(sink: ChunkSink) -> Awaitable[InvocationResult]:
            return self.run(
                spec, event, request_id, kind=kind, client_context=client_context, sink=sink
            )

        return Stream(run, request_id)

    async def invoke(
        self,
        name: str,
        event: bytes,
        request_id: str | None = None,
        qualifier: str | None = None,
    ) -> InvocationResult:
        """Run ``name`` (its ``$LATEST``, or the version or alias ``qualifier`` names)."""
        spec, _ = await self._qualifiers.resolve(name, qualifier)
        return await self.run(spec, event, request_id or str(uuid.uuid4()))

    async def invoke_http(
        self, name: str, request: HttpRequest, domain: str, qualifier: str | None = None
    ) -> HttpResponse:
        """Serve an HTTP request to ``/fn/{name}/...`` as API Gateway would (``request.path``
        is relative to the function). With a ``qualifier`` (``/fn/{name}:{qualifier}/``), the
        function's HTTP config serves the version or alias it names."""
        spec = await self._registry.get(name)
        run: http_trigger.Invoke = functools.partial(self.run, kind="http")
        stream: http_trigger.StreamInvoke = functools.partial(self.stream, kind="http")
        if qualifier is not None:
            target, _ = await self._qualifiers.resolve(name, qualifier)

            async def run_target(
                _latest: FunctionSpec, event: bytes, request_id: str
            ) -> InvocationResult:
                return await self.run(target, event, request_id, kind="http")

            def stream_target(_latest: FunctionSpec, event: bytes, request_id: str) -> Stream:
                return self.stream(target, event, request_id, kind="http")

            run, stream = run_target, stream_target
        ctx = Context(
            request_id=str(uuid.uuid4()),
            account_id=self._settings.account_id,
            api_id=name,
            domain=domain,
        )
        return await http_trigger.handle(
            spec,
            request,
            ctx,
            invoke=run,
            authorize=lambda key: self._access.route_within_rate(key, name),
            stream=stream,
        )

    async def invoke_async(self, name: str, event: bytes, qualifier: str | None = None) -> str:
        """Queue an event; returns its request id once Redis holds it."""
        spec = await self._registry.get(name)  # 404 for an unknown function, as Lambda
        if qualifier == LATEST:
            qualifier = None
        if qualifier is not None:
            await self._qualifiers.resolve(name, qualifier, draw=False)  # 404 if unknown
        request_id = str(uuid.uuid4())
        await self._queue.enqueue(
            Invocation(
                request_id=request_id,
                function=name,
                payload=event,
                enqueued_at=time.time(),
                qualifier=qualifier,
                function_created_at=spec.created_at,
            )
        )
        return request_id

    async def get_invocation(self, request_id: str) -> Invocation:
        return await self._queue.get(request_id)

    def arn(self, name: str) -> str:
        """The function's ARN, as the events and destinations of its invocations name it."""
        return function_arn(self._settings.region, self._settings.account_id, name)
