"""The ``faas`` command: ``faas serve``, ``faas worker`` and ``faas images build``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from faas.errors import FaasError
from faas.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faas", description="A self-hosted AWS Lambda.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway and the scheduler")
    serve.add_argument("--redis-url", help="Redis URL (FAAS_REDIS_URL)")
    serve.add_argument("--data-dir", help="code store and sockets (FAAS_DATA_DIR)")
    serve.add_argument("--host", help="address to bind (FAAS_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (FAAS_PORT)")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--no-worker", action="store_true", help="do not run async events here (FAAS_WORKER=0)"
    )

    worker = commands.add_parser("worker", help="run async events only (scale-out)")
    worker.add_argument("--redis-url", help="Redis URL (FAAS_REDIS_URL)")
    worker.add_argument("--data-dir", help="code store and sockets (FAAS_DATA_DIR)")
    worker.add_argument("--concurrency", type=int, help="events at once (FAAS_WORKER_CONCURRENCY)")
    worker.add_argument("--log-level", default="info")

    images = commands.add_parser("images", help="runtime images")
    images_cmd = images.add_subparsers(dest="images_command", required=True)
    build = images_cmd.add_parser("build", help="build the runtime image (and a base if needed)")
    build.add_argument("--base", help="base image to build from (FAAS_BASE_IMAGE)")
    build.add_argument("--rebuild", action="store_true", help="build even if it exists")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # One line per request to a container's socket is noise, not news.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "worker":
            return _worker(args)
        return _images_build(args)
    except FaasError as exc:
        print(f"faas: {exc.message}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app

    settings = _settings(
        args, host=args.host, port=args.port, worker=False if args.no_worker else None
    )
    # Refuse a Redis that cannot hold the queue before serving anything.
    asyncio.run(_check_store(settings))
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal
    # to whatever handler was there before it; a finished graceful stop is a
    # success, so that handler does nothing and the command exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=30,
    )
    return 0


def _settings(args: argparse.Namespace, **flags: object) -> Settings:
    """Settings from FAAS_* variables, with the flags every server command shares."""
    return Settings.from_env(os.environ, redis_url=args.redis_url, data_dir=args.data_dir, **flags)


async def _check_store(settings: Settings) -> None:
    from faas import store

    client = store.connect(settings.redis_url)
    try:
        async with store.redis_errors():
            await client.ping()
        await store.check_no_eviction(client)
    finally:
        await client.aclose()


def _worker(args: argparse.Namespace) -> int:
    settings = _settings(args, worker_concurrency=args.concurrency)
    return asyncio.run(_run_worker(settings))


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


def _images_build(args: argparse.Namespace) -> int:
    from faas.backend import connect
    from faas.images import Images

    settings = Settings.from_env(os.environ, base_image=args.base)
    tag = Images(settings, connect()).ensure_runtime(rebuild=args.rebuild)
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
