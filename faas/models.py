"""Plain data: functions, their configs and specs, and the rules they obey.

Everything here is a frozen dataclass with pure functions beside it, so the rules
(Lambda's name pattern, memory and timeout ranges, the 4 KB environment budget,
which fields shape a container) are tested without any service running. Beside
it: ``faas.outcomes`` (how an invocation ended), ``faas.image_config`` (an image
function's image) and ``faas.text`` (what counts as text).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from faas.errors import ValidationFailed
from faas.image_config import ImageConfig, validate_image, validate_image_config
from faas.invoke.http.config import HttpConfig
from faas.text import NOT_TEXT, is_text

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What may follow a function's name: $LATEST, a version number, or an alias.
QUALIFIER_PATTERN = re.compile(r"^(\$LATEST|[A-Za-z0-9_-]{1,128})$")
# Lambda: `path/to/module.function`, no spaces.
HANDLER_PATTERN = re.compile(r"^[A-Za-z0-9_./-]{1,128}$")
ENV_KEY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
VOLUME_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Lambda mounts file systems under /mnt only.
MOUNT_PATH_PATTERN = re.compile(r"^/mnt/[A-Za-z0-9_.-]{1,64}$")
VOLUMES_MAX = 5
# A layer version's ARN; the region part is ours too (``local-1``), not only AWS's.
LAYER_VERSION_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]{1,140}:[0-9]{1,20}$"
)
LAYERS_MAX = 5
# How a function's code is shipped: a zip, or a container image (``image``) of its own.
PACKAGE_TYPES = ("Zip", "Image")

# Every runtime name the platform knows; which of them a server can run depends on its
# backend and what its images come from (``Backend.unavailable``, docs/runtimes.md).
PYTHON_RUNTIMES = ("python3.11", "python3.12", "python3.13")
NODE_RUNTIMES = ("nodejs20.x", "nodejs22.x", "nodejs24.x")
PROVIDED_RUNTIMES = ("provided", "provided.al2", "provided.al2023")
RUNTIMES = PYTHON_RUNTIMES + NODE_RUNTIMES + PROVIDED_RUNTIMES
# What a function runs when it names none, and what the generic pool pre-starts first.
DEFAULT_RUNTIME = "python3.11"

MEMORY_MIN_MB, MEMORY_MAX_MB = 128, 10240
TIMEOUT_MAX_S = 900
ENV_MAX_BYTES = 4096
KEEP_WARM_MAX = 100
# The unpublished version of a function, the one every change goes to.
LATEST = "$LATEST"
DESCRIPTION_MAX = 256
ROLE_MAX = 2048
# Lambda's limit for a synchronous event.
INVOKE_MAX_BYTES = 6 * 1024 * 1024
# Lambda's limit for an asynchronous event.
ASYNC_INVOKE_MAX_BYTES = 1024 * 1024

# Lambda reserves these; a function's env may not override them.
RESERVED_ENV = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "FAAS_RUNTIME",
        "FAAS_SOCKET_DIR",
    }
)


@dataclass(frozen=True)
class FunctionConfig:
    """What a user sets on a function; validated by :func:`validate_config`."""

    name: str
    runtime: str
    handler: str
    memory_mb: int = 128
    timeout_s: int = 3
    env: dict[str, str] = field(default_factory=dict)
    concurrency: int | None = None
    keep_warm: int = 0
    network: bool = True
    # Volume name (a directory under the server's volumes dir) -> mount path under /mnt.
    volumes: dict[str, str] = field(default_factory=dict)
    description: str = ""
    # The Lambda API's execution role ARN: stored and shown, not enforced.
    role: str = ""
    # Layer version ARNs, placed read-only under /opt in this order (a later one wins).
    layers: tuple[str, ...] = ()
    # "Image": the function is ``image``, a local container image whose own runtime
    # client serves it (no runtime, handler or layers then); "Zip": its code is a zip.
    package_type: str = "Zip"
    image: str = ""
    image_config: ImageConfig = field(default_factory=ImageConfig)
    # What its own key (its AWS SDK credentials, faas.auth) may use: "service:glob"
    # patterns (sqs:orders-*, sns:orders, lambda:billing); None: all the installation's.
    sdk_resources: tuple[str, ...] | None = None

    @property
    def is_image(self) -> bool:
        return self.package_type == "Image"


@dataclass(frozen=True)
class AsyncConfig:
    """How asynchronous invocations of a function are retried and where results go.

    Defaults are Lambda's: two retries, about a minute then two between them,
    events kept for six hours. Destinations name functions invoked asynchronously
    with Lambda's destination record.
    """

    max_retries: int = 2
    backoff_base_s: float = 60.0
    backoff_max_s: float = 120.0
    max_event_age_s: int = 6 * 3600
    on_success: str | None = None
    on_failure: str | None = None
    # When it was last set (epoch s), through /v1 or the Lambda API; None: never set
    # (or deleted), which the Lambda API reports as no EventInvokeConfig.
    set_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["set_at"]
        for key in ("on_success", "on_failure"):
            data[key] = {"function": data[key]} if data[key] else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AsyncConfig:
        """Parse the API's (and the store's) shape; raises ``ValidationFailed``."""
        if not isinstance(data, dict):
            raise ValidationFailed("the async config must be a JSON object")
        allowed = {f.name for f in dataclasses.fields(cls)} - {"set_at"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValidationFailed(f"unknown field {unknown[0]!r}", field=unknown[0])
        values = dict(data)
        for key in ("on_success", "on_failure"):
            values[key] = _destination(key, values.get(key))
        return validate_async_config(cls(**values))


def _destination(key: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict) and set(value) == {"function"}:
        return validate_name(value["function"], field=key)
    raise ValidationFailed(f'{key} must be {{"function": NAME}} or null', field=key)


def validate_async_config(config: AsyncConfig) -> AsyncConfig:
    _int_in_range("max_retries", config.max_retries, 0, 10)
    _number_in_range("backoff_base_s", config.backoff_base_s, 0.1, 3600)
    _number_in_range("backoff_max_s", config.backoff_max_s, config.backoff_base_s, 6 * 3600)
    _int_in_range("max_event_age_s", config.max_event_age_s, 60, 6 * 3600)
    return config


@dataclass(frozen=True)
class FunctionSpec:
    """A registered function: its config plus the code it runs."""

    config: FunctionConfig
    code_sha256: str
    code_size: int
    created_at: float
    updated_at: float
    async_config: AsyncConfig = field(default_factory=AsyncConfig)
    http: HttpConfig = field(default_factory=HttpConfig.disabled)
    # Changes (to a fresh random token) whenever the function's secrets change; the
    # values themselves are never here (faas/catalog/secrets.py).
    secrets_version: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    # ``$LATEST``, or the number of a published version: an immutable snapshot of the
    # function's code and configuration (``faas.catalog.versions``).
    version: str = LATEST

    @property
    def unit(self) -> str:
        """What the scheduler keeps instances of: the function, or ``name:version``."""
        return self.config.name if self.version == LATEST else f"{self.config.name}:{self.version}"

    @property
    def revision_id(self) -> str:
        """Lambda's ``RevisionId``: changes with every change of the function (its
        ``updated_at`` always grows), the same on every node."""
        seed = f"{self.config.name}/{self.updated_at!r}".encode()
        return str(uuid.UUID(bytes=hashlib.sha256(seed).digest()[:16], version=4))

    @property
    def name(self) -> str:
        return self.config.name

    @functools.cached_property
    def pool_key(self) -> str:
        """Hash of everything that shapes a container: a change gives a fresh pool.

        Concurrency, keep_warm and timeout only steer scheduling, so changing them
        keeps warm containers. Worked out once per spec (the registry hands out the
        same one until the function changes): every invoke asks, and building it
        (a JSON document and a sha256) took 8.4 us.
        """
        c = self.config
        shaping = {
            "name": c.name,
            "code": self.code_sha256,
            "runtime": c.runtime,
            "handler": c.handler,
            "memory_mb": c.memory_mb,
            "env": c.env,
            "network": c.network,
            "volumes": c.volumes,
            "secrets": self.secrets_version,
        }
        if c.layers:
            shaping["layers"] = c.layers
        if c.is_image:
            # The code is the image's id (resolved at create and at each code update).
            shaping["image_config"] = dataclasses.asdict(c.image_config)
        if self.version != LATEST:
            # A version's sandboxes say which version they run (AWS_LAMBDA_FUNCTION_VERSION).
            shaping["version"] = self.version
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["http"] = self.http.to_dict()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> FunctionSpec:
        data = json.loads(raw)
        config = data["config"]
        return cls(
            config=FunctionConfig(
                **{
                    **config,
                    "layers": tuple(config.get("layers", ())),
                    "image_config": ImageConfig.from_dict(config.get("image_config")),
                    "sdk_resources": _tuple_or_none(config.get("sdk_resources")),
                }
            ),
            code_sha256=data["code_sha256"],
            code_size=data["code_size"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            async_config=AsyncConfig(**data.get("async_config", {})),
            http=HttpConfig.from_dict(data["http"]) if "http" in data else HttpConfig.disabled(),
            secrets_version=data.get("secrets_version", ""),
            tags=data.get("tags", {}),
            version=data.get("version", LATEST),
        )


def validate_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValidationFailed(
            f"{field} must be a name of 1-64 letters, digits, '-' and '_'", field=field
        )
    return name


def validate_config(config: FunctionConfig) -> FunctionConfig:
    """Return ``config`` if every field is in range, else raise naming the field."""
    validate_name(config.name)
    if config.package_type not in PACKAGE_TYPES:
        raise ValidationFailed(
            f"package_type must be one of {', '.join(PACKAGE_TYPES)}", field="package_type"
        )
    if config.is_image:
        _validate_image_function(config)
    else:
        _validate_zip_function(config)
    _int_in_range("memory_mb", config.memory_mb, MEMORY_MIN_MB, MEMORY_MAX_MB)
    _int_in_range("timeout_s", config.timeout_s, 1, TIMEOUT_MAX_S)
    _int_in_range("keep_warm", config.keep_warm, 0, KEEP_WARM_MAX)
    if config.concurrency is not None:
        _int_in_range("concurrency", config.concurrency, 0, 10_000)
    if not isinstance(config.network, bool):
        raise ValidationFailed("network must be true or false", field="network")
    _validate_env(config.env)
    _validate_volumes(config.volumes)
    _validate_layers(config.layers)
    _validate_sdk_resources(config.sdk_resources)
    if not isinstance(config.description, str) or len(config.description) > DESCRIPTION_MAX:
        raise ValidationFailed(
            f"description must be a string of at most {DESCRIPTION_MAX} characters",
            field="description",
        )
    if not isinstance(config.role, str) or len(config.role) > ROLE_MAX:
        raise ValidationFailed(
            f"role must be a string of at most {ROLE_MAX} characters", field="role"
        )
    return config


def _validate_image_function(config: FunctionConfig) -> None:
    """An image holds its runtime client and code: Lambda refuses a runtime, a handler or
    layers beside it (its CMD names the handler; ``image_config`` overrides that)."""
    for name, value in (("runtime", config.runtime), ("handler", config.handler)):
        if value:
            raise ValidationFailed(
                f"{name} is not set for an image function: its image runs its own runtime "
                "client (set the handler with image_config's command)",
                field=name,
            )
    if config.layers:
        raise ValidationFailed(
            "layers cannot be used with an image function: put their files in the image",
            field="layers",
        )
    validate_image(config.image)
    if not isinstance(config.image_config, ImageConfig):
        raise ValidationFailed("image_config must be an object", field="image_config")
    validate_image_config(config.image_config)


def _validate_zip_function(config: FunctionConfig) -> None:
    for name, unset in (("image", not config.image), ("image_config", config.image_config.empty)):
        if not unset:
            raise ValidationFailed(
                f"{name} is only for an image function (package_type Image)", field=name
            )
    if config.runtime not in RUNTIMES:
        raise ValidationFailed(
            f"runtime {config.runtime!r} is not supported; use one of {', '.join(RUNTIMES)}",
            field="runtime",
        )
    if not HANDLER_PATTERN.fullmatch(config.handler or ""):
        raise ValidationFailed("handler must look like 'module.function'", field="handler")
    if config.runtime in PYTHON_RUNTIMES and "." not in config.handler:
        raise ValidationFailed(
            "handler must be 'module.function' for a Python runtime", field="handler"
        )
    if config.runtime in NODE_RUNTIMES and "." not in config.handler:
        raise ValidationFailed(
            "handler must be 'file.export' for a Node.js runtime (index.handler for "
            "index.js, index.mjs or index.cjs)",
            field="handler",
        )


def _validate_volumes(volumes: object) -> None:
    if not isinstance(volumes, dict) or len(volumes) > VOLUMES_MAX:
        raise ValidationFailed(
            f"volumes must be an object of at most {VOLUMES_MAX} name: /mnt/path pairs",
            field="volumes",
        )
    for name, path in volumes.items():
        if not isinstance(name, str) or not VOLUME_NAME_PATTERN.fullmatch(name):
            raise ValidationFailed(f"volume name {name!r} is not valid", field="volumes")
        if not isinstance(path, str) or not MOUNT_PATH_PATTERN.fullmatch(path):
            raise ValidationFailed(
                f"volume {name!r} must mount at /mnt/<name>, not {path!r}", field="volumes"
            )
    if len(set(volumes.values())) != len(volumes):
        raise ValidationFailed("two volumes share a mount path", field="volumes")


SDK_SERVICES = ("sqs", "sns", "lambda")
SDK_RESOURCES_MAX = 50
SDK_PATTERN = re.compile(r"^(sqs|sns|lambda):[A-Za-z0-9_.*?-]{1,80}$")


def _tuple_or_none(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _validate_sdk_resources(patterns: object) -> None:
    if patterns is None:
        return
    if not isinstance(patterns, (list, tuple)) or len(patterns) > SDK_RESOURCES_MAX:
        raise ValidationFailed(
            f"sdk_resources must be null (everything of this installation) or a list of at "
            f"most {SDK_RESOURCES_MAX} patterns",
            field="sdk_resources",
        )
    for pattern in patterns:
        if not isinstance(pattern, str) or not SDK_PATTERN.fullmatch(pattern):
            raise ValidationFailed(
                f"sdk_resources entry {str(pattern)[:100]!r} is not SERVICE:NAME, SERVICE one of "
                f"{', '.join(SDK_SERVICES)} and NAME a name or a glob (orders-*)",
                field="sdk_resources",
            )


def _validate_layers(layers: object) -> None:
    if not isinstance(layers, tuple) or len(layers) > LAYERS_MAX:
        raise ValidationFailed(
            f"layers must be a list of at most {LAYERS_MAX} layer version ARNs", field="layers"
        )
    seen: set[str] = set()
    for arn in layers:
        if not isinstance(arn, str) or not LAYER_VERSION_ARN.fullmatch(arn):
            raise ValidationFailed(
                f"layers entry {str(arn)[:200]!r} is not a layer version ARN "
                "(arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)",
                field="layers",
            )
        layer = arn.rsplit(":", 1)[0]
        if layer in seen:
            raise ValidationFailed(f"layers lists two versions of {layer}", field="layers")
        seen.add(layer)


def _int_in_range(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(f"{name} must be an integer from {low} to {high}", field=name)


def _number_in_range(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationFailed(f"{name} must be a number from {low:g} to {high:g}", field=name)


def _validate_env(env: object) -> None:
    if not isinstance(env, dict):
        raise ValidationFailed("env must be an object of string values", field="env")
    size = 0
    for key, value in env.items():
        if not isinstance(key, str) or not ENV_KEY_PATTERN.fullmatch(key):
            raise ValidationFailed(f"env name {key!r} is not a valid variable name", field="env")
        if key in RESERVED_ENV:
            raise ValidationFailed(f"env name {key!r} is reserved", field="env")
        if not isinstance(value, str):
            raise ValidationFailed(f"env value of {key!r} must be a string", field="env")
        if not is_text(value):
            raise ValidationFailed(f"env value of {key!r} {NOT_TEXT}", field="env")
        # execve takes C strings: runc would refuse the container at every invoke.
        if "\x00" in value:
            raise ValidationFailed(
                f"env value of {key!r} holds a NUL character, which a variable cannot hold",
                field="env",
            )
        size += len(key.encode()) + len(value.encode())
    if size > ENV_MAX_BYTES:
        raise ValidationFailed(
            f"env is {size} bytes; the total of names and values is limited to {ENV_MAX_BYTES}",
            field="env",
        )


def apply_patch(config: FunctionConfig, changes: dict[str, Any]) -> FunctionConfig:
    """A new config with ``changes`` applied and validated; the name cannot change."""
    # What a function is shipped as, and its image, change with its code (update_code).
    allowed = {f.name for f in dataclasses.fields(FunctionConfig)} - {
        "name",
        "package_type",
        "image",
    }
    unknown = set(changes) - allowed
    if unknown:
        field_name = sorted(unknown)[0]
        raise ValidationFailed(f"{field_name} cannot be changed", field=field_name)
    return validate_config(dataclasses.replace(config, **changes))
