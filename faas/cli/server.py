"""The server commands: ``faas serve``, ``faas worker``, ``faas images build``, ``faas keys``.

Each builds ``Settings`` from the FAAS_* environment and its flags, then runs the
gateway (uvicorn), an async-event worker, an image build, or edits the keys file.
``faas serve --workers N`` runs N gateway processes under a supervisor
(``faas.cli.workers``), on sockets bound here (``gateway.edge.listeners``).
Heavy imports (uvicorn, the gateway, the platform) happen inside the command that
needs them, so a client command starts fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import logging
import os
import shlex
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from faas import auth
from faas.cli.exits import EXIT_OK, EXIT_USAGE
from faas.cli.progress import Status, StepsFromLogs
from faas.compute.lambda_env import API_SOCKET
from faas.errors import ValidationFailed
from faas.settings import Settings

if TYPE_CHECKING:
    from gateway.edge.protocol import ConnectionLimits


def serve(args: argparse.Namespace) -> int:
    from gateway.edge import listeners
    from gateway.edge.protocol import ConnectionLimits, raise_fd_limit

    settings = _settings(
        args,
        host=args.host,
        port=args.port,
        worker=False if args.no_worker else None,
        backend=args.backend,
        workers=args.workers,
    )
    _refuse_exposed_processes(settings)
    settings = _guard_open_server(settings)
    # Refuse a Redis that cannot hold the queue before serving anything.
    asyncio.run(_check_store(settings))
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal
    # to whatever handler was there before it; a finished graceful stop is a
    # success, so that handler does nothing and the command exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stopped)
    fd_limit = raise_fd_limit()
    limits = ConnectionLimits.from_settings(settings, fd_limit)
    if limits.max_connections < settings.http_max_connections:
        logging.getLogger("faas").warning(
            "the open-file limit of %d leaves room for %d client connections, not "
            "FAAS_HTTP_MAX_CONNECTIONS=%d; raise it (ulimit -n, LimitNOFILE=, --ulimit nofile=)",
            fd_limit,
            limits.max_connections,
            settings.http_max_connections,
        )
    # Also on a Unix socket in the data dir: containers reach it mounted read-only,
    # through their agent's loopback port (AWS SDK calls from functions).
    api = listeners.api(settings.api_socket_dir / API_SOCKET)
    extra = [api] if api is not None else []
    if settings.workers == 1:
        _gateway(settings, args, limits, [_listen(settings.host, settings.port), *extra])
        return 0
    return _serve_workers(settings, args, limits, extra)


def _serve_workers(
    settings: Settings,
    args: argparse.Namespace,
    limits: ConnectionLimits,
    extra: list[socket.socket],
) -> int:
    """``faas serve --workers N``: the supervisor (faas.cli.workers) and what each worker runs."""
    from faas.cli import workers
    from faas.cluster import nodes
    from gateway.edge import listeners

    # Bound here without listening: the port is refused now if taken, and stays the
    # node's while workers restart (port 0: the one the kernel chose, for all).
    held = _listen(settings.host, settings.port, shared=True)
    if settings.port and listeners.served(settings.host, settings.port):
        held.close()
        raise ValidationFailed(
            f"cannot listen on {settings.host}:{settings.port}: another server listens there",
            field="port",
        )
    settings = dataclasses.replace(settings, port=listeners.port_of(held))
    node_url = nodes.advertise_url(settings)
    # The node's cap, split: each process schedules its own sandboxes.
    share = max(1, settings.max_instances // settings.workers)

    def worker(index: int, ready: workers.Ready) -> int:
        held.close()
        own_port = settings.worker_port + index if settings.worker_port else 0
        try:
            own = _listen(settings.host, own_port)
        except ValidationFailed as exc:
            # As an app that cannot start: the node stops if no worker ever served.
            logging.getLogger("faas").error("worker %d: %s", index, exc.message)
            return workers.STARTUP_FAILURE
        mine = dataclasses.replace(
            settings,
            owner_id=workers.owner_of(index),
            process_url=listeners.own_url(node_url, listeners.port_of(own)),
            max_instances=share,
        )
        shared = _listen(settings.host, settings.port, shared=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _stopped)  # as a lone serve: uvicorn's stop is a success
        _gateway(mine, args, limits, [shared, own, *extra], ready)
        return 0

    logging.getLogger("faas").info(
        "serving on %s:%d with %d worker processes", settings.host, settings.port, settings.workers
    )
    try:
        return workers.Supervisor(settings.workers, worker).run()
    finally:
        held.close()
        for sock in extra:
            sock.close()


def _gateway(
    settings: Settings,
    args: argparse.Namespace,
    limits: ConnectionLimits,
    sockets: list[socket.socket],
    ready: Callable[[], None] | None = None,
) -> None:
    """The gateway of ``settings`` on ``sockets`` (bound; listened on once the app has
    started), until SIGTERM or SIGINT; ``ready`` is called once it serves."""
    import uvicorn

    from gateway.app import create_app, stopping
    from gateway.edge.protocol import HttpProtocol

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            if _STOPS:  # told to stop before uvicorn took the signals: start, then stop
                self.should_exit = True
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit and ready is not None:
                ready()

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            stopping(self.config.app)  # open log tails end, then their connections close
            await super().shutdown(sockets=sockets)

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # httptools, one write per response, slow clients timed out, connections capped
        http=HttpProtocol.limited(limits),
        ws="none",  # no WebSocket routes: an Upgrade header is an ordinary request
        log_level=args.log_level,
        access_log=args.access_log,
        # Logging is set up already (platform_log): uvicorn's lines come out as JSON too.
        log_config=None,
        timeout_graceful_shutdown=30,
        # The client's address is the connection's: uvicorn would believe any
        # X-Forwarded-For from 127.0.0.1. Trusted proxies are FAAS_TRUSTED_PROXIES.
        proxy_headers=False,
    )
    Server(config).run(sockets=sockets)


def _listen(host: str, port: int, *, shared: bool = False) -> socket.socket:
    from gateway.edge import listeners

    try:
        return listeners.tcp(host, port, shared=shared)
    except OSError as exc:
        raise ValidationFailed(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="port"
        ) from None


# Stop signals that came before uvicorn took SIGTERM and SIGINT (while the app loads).
_STOPS: list[int] = []


def _stopped(signum: int, _frame: object) -> None:
    """SIGTERM and SIGINT outside uvicorn's hands: before it serves, remembered (it stops
    as soon as it has started); after its graceful stop, re-raised by it: nothing to do."""
    _STOPS.append(signum)


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _refuse_exposed_processes(settings: Settings) -> None:
    """The process backend isolates nothing: whoever can invoke a function runs code as
    this server's user on this host. It serves this host only."""
    if settings.backend != "process" or _is_loopback(settings.host):
        return
    raise ValidationFailed(
        "the process backend runs functions as plain processes of this server's user, with "
        f"no isolation: it listens on loopback only (127.0.0.1, ::1), not {settings.host}; "
        "serve other machines with the default container backend",
        field="host",
    )


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guard_open_server(settings: Settings) -> Settings:
    """Make the keys file if asked; with no key at all, listen on localhost only."""
    log = logging.getLogger("faas")
    if settings.keys_generate and settings.keys_file and not Path(settings.keys_file).exists():
        auth.init_keys_file(Path(settings.keys_file))
        log.warning(
            "created the keys file %s with a new admin key; print it with `faas keys show`",
            settings.keys_file,
        )
    if not auth.KeyRing.from_settings(settings).open:
        return settings
    if settings.host not in LOOPBACK:
        log.warning(
            "no API key is configured (FAAS_ADMIN_KEY, FAAS_KEYS_FILE): listening on "
            "127.0.0.1 only instead of %s",
            settings.host,
        )
        return dataclasses.replace(settings, host="127.0.0.1")
    log.warning(
        "no API key is configured: anyone who can reach %s:%d may manage and invoke "
        "functions; it listens on localhost only",
        settings.host,
        settings.port,
    )
    return settings


def keys(args: argparse.Namespace) -> int:
    if args.keys_command == "init":
        path = args.file or os.environ.get("FAAS_KEYS_FILE")
        if not path:
            print("faas: give --file or set FAAS_KEYS_FILE", file=sys.stderr)
            return EXIT_USAGE
        print(auth.init_keys_file(Path(path)))
        return EXIT_OK
    # The configuration the server reads: the keys file, else FAAS_ADMIN_KEY.
    settings = Settings.from_env(os.environ, keys_file=args.file)
    key = auth.admin_key(settings)
    if key is None:
        where = (
            f"the keys file {settings.keys_file} has no admin key"
            if settings.keys_file
            else "give --file, or set FAAS_KEYS_FILE or FAAS_ADMIN_KEY"
        )
        print(f"faas: {where}", file=sys.stderr)
        return EXIT_USAGE
    if not args.aws:
        print(key.secret)
        return EXIT_OK
    # Exported and shell-quoted: eval "$(faas keys show --aws)" then runs boto3 or aws.
    print(f"export AWS_ACCESS_KEY_ID={shlex.quote(key.access_key_id)}")
    print(f"export AWS_SECRET_ACCESS_KEY={shlex.quote(key.secret)}")
    print(f"export AWS_DEFAULT_REGION={shlex.quote(settings.region)}")
    return EXIT_OK


def _settings(args: argparse.Namespace, **flags: object) -> Settings:
    """Settings from FAAS_* variables, with the flags every server command shares."""
    return Settings.from_env(os.environ, redis_url=args.redis_url, data_dir=args.data_dir, **flags)


async def _check_store(settings: Settings) -> None:
    from faas import store

    client = store.connect(settings.redis_url)
    try:
        await store.reach(client, settings.start_timeout_s)
        await store.check_no_eviction(client)
    finally:
        await client.aclose()


def worker(args: argparse.Namespace) -> int:
    settings = _settings(args, worker_concurrency=args.concurrency)
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it; a bare install runs on asyncio
        return asyncio.run(_run_worker(settings))
    # The same event loop as faas serve's (uvicorn picks uvloop): cheaper I/O per event.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> int:
    from faas.platform import Platform

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    platform = Platform(settings, role="worker", worker=True)
    try:
        await platform.start()
        logging.getLogger("faas").info("worker %s is taking async events", platform.owner_id)
        await stop.wait()
    finally:
        # SIGTERM: stop taking events, drain what runs, hand back the rest.
        await platform.close()
    return 0


def images_build(args: argparse.Namespace) -> int:
    from faas.compute import factory

    settings = Settings.from_env(os.environ, base_image=args.base)
    with Status.on(sys.stderr, quiet=args.json) as status, _logs_as_steps(status):
        # The build logs each step it takes (a base by debootstrap, an image per runtime).
        status.begin("looking for the runtime images")
        built = factory.build_runtime_images(settings, args.rebuild, args.runtime)
    if args.json:
        print(json.dumps(built, indent=2))
    else:
        for runtime, tag in built.items():
            print(f"{runtime}\t{tag}")
    return 0


@contextlib.contextmanager
def _logs_as_steps(status: Status) -> Iterator[None]:
    """While ``status`` draws, the log lines become its steps rather than JSON on stderr."""
    if not status.enabled:
        yield
        return
    root = logging.getLogger()
    kept = root.handlers[:]
    root.handlers[:] = [StepsFromLogs(status)]
    try:
        yield
    finally:
        root.handlers[:] = kept
