"""Stories of the generic pool: containers started ahead, given a function on its first call."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from faas.compute.pool import GenericPool, Profile
from faas.outcomes import Outcome
from faas.platform import Platform
from faas.settings import Settings
from tests.helpers import handler_zip, ours, wait_until_async

PROBE = """
import os

def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None

def handler(event, context):
    limit = read("/sys/fs/cgroup/memory/memory.limit_in_bytes") or read("/sys/fs/cgroup/memory.max")
    return {
        "host": os.uname().nodename,
        "greeting": os.environ.get("GREETING"),
        "other": os.environ.get("OTHER"),
        "memory": os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        "limit": int(limit),
        "version": "VERSION",
    }
"""

# Reads its secrets while its module is imported: they must be in place before init.
SECRET_AT_IMPORT = """
import os
NAMES = sorted(os.listdir("/run/secrets"))
TOKEN = open("/run/secrets/TOKEN").read() if "TOKEN" in NAMES else None

def handler(event, context):
    return {"names": NAMES, "token": TOKEN}
"""

NOOP = "def handler(event, context):\n    return 'ok'\n"


async def call(platform: Platform, name: str, event: object = None):  # type: ignore[no-untyped-def]
    result = await platform.invoker.invoke(name, json.dumps(event or {}).encode())
    assert result.outcome is Outcome.SUCCESS, result.payload
    return result, json.loads(result.payload)


def pool_of(platform: Platform) -> GenericPool:
    assert platform.scheduler.pool is not None
    return platform.scheduler.pool


async def pool_ready(platform: Platform, memory_mb: int = 128, count: int = 2) -> None:
    """Run an upkeep tick (it learns the functions' profiles), then wait for the pool."""
    await platform.scheduler.upkeep_once(await platform.functions.list())
    pool = pool_of(platform)
    await wait_until_async(
        pool.ready,
        what=f"{count} generic containers of {memory_mb} MB",
        done=lambda ready: sum(1 for s in ready if s.spec.memory_mb == memory_mb) >= count,
        within_s=60,
    )


def born_generic(docker_client, container_id: str) -> bool:  # type: ignore[no-untyped-def]
    labels = docker_client.api.inspect_container(container_id)["Config"]["Labels"]
    return bool(labels["faas.pool"] == "generic" and labels["faas.function"] == "")


async def test_two_functions_from_the_pool_each_see_their_own_env_and_memory(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, docker_client
):
    # Given two functions of different memory sizes and environments, and the pool
    # holding generic containers of both profiles
    await deploy("small", PROBE, memory_mb=128, env={"GREETING": "hello", "OTHER": "s"})
    await deploy("large", PROBE, memory_mb=256, env={"GREETING": "bonjour"})
    await pool_ready(platform, 128)
    await pool_ready(platform, 256)
    # When each is called for the first time
    small_result, small = await call(platform, "small")
    large_result, large = await call(platform, "large")
    # Then both were cold starts served by containers started generic
    assert small_result.cold_start and large_result.cold_start
    [small_id] = containers_of("small")
    [large_id] = containers_of("large")
    assert born_generic(docker_client, small_id) and born_generic(docker_client, large_id)
    # each sees its own environment, nothing of the other's
    assert (small["greeting"], small["other"]) == ("hello", "s")
    assert (large["greeting"], large["other"]) == ("bonjour", None)
    # and each runs under its own memory limit, as the cgroup enforces it
    assert (small["memory"], small["limit"]) == ("128", 128 * 1024 * 1024)
    assert (large["memory"], large["limit"]) == ("256", 256 * 1024 * 1024)
    # The generic containers were named for nothing; now each is named for its function
    assert docker_client.containers.get(small_id).name.startswith("faas-small-")
    # and the function's environment is not in the container's configuration
    env = docker_client.api.inspect_container(large_id)["Config"]["Env"]
    assert not any("bonjour" in e for e in env)
    assert "FAAS_GENERIC=1" in env


async def test_a_generic_container_serves_one_function_and_never_another(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, docker_client
):
    # Given two functions of the same profile, each called once from the pool
    await deploy("first", PROBE)
    await deploy("second", PROBE)
    await pool_ready(platform)
    _, one = await call(platform, "first")
    [first_id] = containers_of("first")
    assert born_generic(docker_client, first_id)
    _, two = await call(platform, "second")
    # Then they ran in different containers
    assert one["host"] != two["host"]
    assert first_id not in containers_of("second")
    # and when the first function goes, its container goes with it, not back to the pool
    await platform.functions.delete("first")
    assert first_id not in ours(platform.settings.node_id, client=docker_client)
    assert all(s.container_id != first_id for s in pool_of(platform).ready())
    # the second one's next call is warm, in its own container
    again, body = await call(platform, "second")
    assert not again.cold_start and body["host"] == two["host"]


async def test_secrets_are_in_place_before_the_function_is_imported(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, docker_client
):
    # Given a function whose module reads its secrets at import, with a secret set
    await deploy("vault", SECRET_AT_IMPORT)
    await platform.functions.put_secrets("vault", {"TOKEN": "t0k3n"})
    await pool_ready(platform)
    # When its first call takes a generic container
    result, body = await call(platform, "vault")
    # Then the import already saw the secret file
    assert result.cold_start and born_generic(docker_client, containers_of("vault")[0])
    assert body == {"names": ["TOKEN"], "token": "t0k3n"}


async def test_a_function_without_secrets_sees_an_empty_secrets_dir(platform, deploy):  # type: ignore[no-untyped-def]
    await deploy("nosecrets", SECRET_AT_IMPORT)
    await pool_ready(platform)
    _, body = await call(platform, "nosecrets")
    assert body == {"names": [], "token": None}


async def test_new_code_takes_a_new_generic_container(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, docker_client, tmp_path
):
    # Given a function served from the pool
    await deploy("versioned", PROBE.replace("VERSION", "v1"))
    await pool_ready(platform)
    _, before = await call(platform, "versioned")
    [old] = containers_of("versioned")
    # When its code changes
    path = tmp_path / "v2.zip"
    path.write_bytes(handler_zip(PROBE.replace("VERSION", "v2")))
    await platform.functions.update_code("versioned", path)
    await pool_ready(platform)
    result, after = await call(platform, "versioned")
    # Then the new code runs in another container, also from the pool, the old one gone
    assert (before["version"], after["version"]) == ("v1", "v2")
    assert result.cold_start and after["host"] != before["host"]
    await wait_until_async(
        lambda: containers_of("versioned"),
        what="the old container to be removed",
        done=lambda ids: old not in ids,
    )
    [new] = containers_of("versioned")
    assert born_generic(docker_client, new)


async def test_a_function_with_a_volume_takes_the_classic_path(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, docker_client
):
    # Given a function with a volume (a mount, which a started container cannot gain)
    await deploy("mounted", NOOP, volumes={"data": "/mnt/data"})
    await pool_ready(platform)
    # When it is called, its container is made for it
    await call(platform, "mounted")
    [cid] = containers_of("mounted")
    assert not born_generic(docker_client, cid)
    assert docker_client.containers.get(cid).name.startswith("faas-mounted-")


@pytest.mark.settings(reap_interval_s=3600)
async def test_the_pool_refills_after_a_container_is_taken(platform, deploy):  # type: ignore[no-untyped-def]
    # (Upkeep ticks once an hour here: the refill comes from the take itself.)
    await deploy("taker", NOOP)
    await pool_ready(platform)
    before = {s.container_id for s in pool_of(platform).ready()}
    await call(platform, "taker")
    # A container was taken, and a fresh one takes its place without any upkeep tick
    pool = pool_of(platform)
    await wait_until_async(
        pool.ready, what="the pool refilled", done=lambda ready: len(ready) == 2, within_s=60
    )
    assert {s.container_id for s in pool.ready()} != before


async def test_each_kept_profile_has_its_pool_and_a_dropped_one_is_emptied(  # type: ignore[no-untyped-def]
    platform, deploy, docker_client
):
    # Given a function of 512 MB: its profile is kept beside the default one
    await deploy("big", NOOP, memory_mb=512)
    await pool_ready(platform, 512)
    pool = pool_of(platform)
    by_memory = Counter(s.spec.memory_mb for s in pool.ready())
    assert by_memory[128] == 2 and by_memory[512] == 2
    big = [s.container_id for s in pool.ready() if s.spec.memory_mb == 512]
    # generic containers carry the hardening and limits of a function's
    host = docker_client.api.inspect_container(big[0])["HostConfig"]
    assert host["Memory"] == 512 * 1024 * 1024 and host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    # When the function goes, its profile is no longer kept: those containers go
    await platform.functions.delete("big")
    await platform.scheduler.upkeep_once(await platform.functions.list())
    await pool.settled()
    assert all(s.spec.memory_mb == 128 for s in pool.ready())
    left = set(ours(platform.settings.node_id, client=docker_client))
    assert not left & set(big)


@pytest.mark.settings(prewarm_pool=0)
async def test_with_the_pool_off_cold_starts_take_the_classic_path(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, docker_client
):
    assert platform.scheduler.pool is None
    await deploy("classic", PROBE, env={"GREETING": "hi"})
    await platform.scheduler.upkeep_once(await platform.functions.list())
    result, body = await call(platform, "classic")
    assert result.cold_start and body["greeting"] == "hi"
    [cid] = containers_of("classic")
    assert not born_generic(docker_client, cid)
    # and no generic container exists
    node = platform.settings.node_id
    assert ours(node, client=docker_client) == [cid]


class StartsUnderWay:
    """How many containers of one function the backend is starting at once, at most:
    created for it, or generic ones being given it. It watches the real backend's
    ``create`` and ``specialize`` (each call still goes to Docker)."""

    def __init__(self, backend: object, function: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.function = function
        self.now = 0
        self.peak = 0
        for method in ("create", "specialize"):
            monkeypatch.setattr(backend, method, self._watched(getattr(backend, method)))

    def _watched(self, start: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def watched(*args: Any) -> Any:
            if args[-1].function != self.function:  # the pool's refills, other functions
                return await start(*args)
            self.now += 1
            self.peak = max(self.peak, self.now)
            try:
                return await start(*args)
            finally:
                self.now -= 1

        return watched


@pytest.mark.settings(throttle_wait_s=60, cold_starts_per_function=4)
async def test_fifty_concurrent_first_calls_share_a_few_new_containers(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, monkeypatch
):
    # Given a function with no instance yet
    await deploy("burst", NOOP)
    await pool_ready(platform)
    starts = StartsUnderWay(platform.backend, "burst", monkeypatch)
    # When 50 calls arrive at once
    results = await asyncio.gather(*(platform.invoker.invoke("burst", b"{}") for _ in range(50)))
    # Then every one succeeds
    assert [r.outcome for r in results] == [Outcome.SUCCESS] * 50
    # and no call starts its own container while cold_starts_per_function (4, the
    # default) are being started: the others wait for one of those, or a free one
    limit = platform.settings.cold_starts_per_function
    assert 1 <= starts.peak <= limit, f"{starts.peak} starts at once, the limit is {limit}"
    made = len(containers_of("burst"))
    # and a call is cold only if it waited for a start: one whose call took an
    # instance that came free first joins the pool and serves warm later
    assert 1 <= sum(r.cold_start for r in results) <= made


async def test_pool_containers_go_at_shutdown_and_are_reaped_after_a_crash(  # type: ignore[no-untyped-def]
    settings: Settings, docker_client
):
    node = settings.node_id
    # Given a server whose pool is full
    crashed = Platform(settings)
    await crashed.start()
    await wait_until_async(
        pool_of(crashed).ready,
        what="the first server's pool full",
        done=lambda ready: len(ready) == 2,
        within_s=60,
    )
    left = {s.container_id for s in pool_of(crashed).ready()}
    # When it dies without cleaning up and starts again (same node, same owner)
    restarted = Platform(settings)
    await restarted.start()
    try:
        # Then the restarted one has reaped the dead run's pool at once
        assert not left & set(ours(node, client=docker_client))
        await wait_until_async(
            pool_of(restarted).ready,
            what="the restarted server's pool full",
            done=lambda ready: len(ready) == 2,
            within_s=60,
        )
    finally:
        await restarted.close()
        await crashed.close()  # only to release its tasks and clients
    # and a clean shutdown leaves no container at all
    assert ours(node, client=docker_client) == []


async def test_a_take_while_the_pool_is_empty_waits_for_the_start_under_way(  # type: ignore[no-untyped-def]
    platform, docker_client
):
    # Given a pool of one container per profile, just asked to fill (Docker is on it)
    pool = GenericPool(platform.backend, size=1)
    profile = Profile(await platform.backend.prepare(), 128, 0.25, True)
    pool.keep([profile])
    await asyncio.sleep(0.05)
    first = None
    try:
        assert pool.ready(profile) == []
        # When two calls want one at once
        first, second = await asyncio.gather(pool.take(profile), pool.take(profile))
        # Then the first gets the container being started, the second none (it would
        # wait longer for a start not yet begun than for one of its own)
        assert first is not None and second is None
        assert born_generic(docker_client, first.container_id)
        # and the pool fills up again once both cold starts are over (the second's
        # own container), not before: a refill would compete with them
        await asyncio.sleep(0.5)
        assert pool.ready(profile) == []
        pool.settle(profile)
        pool.settle(profile)
        await wait_until_async(
            lambda: pool.ready(profile),
            what="the pool refilled",
            done=lambda ready: len(ready) == 1,
            within_s=60,
        )
    finally:
        await pool.close()
        if first is not None:
            await platform.backend.destroy(first)
    assert pool.ready() == []
