"""API keys: who may manage functions, who may invoke which, and how often.

Two kinds of key, as OpenFaaS and API Gateway users expect:

* admin keys (``FAAS_ADMIN_KEY``) may do everything;
* invoke keys (``FAAS_INVOKE_KEYS``) may only invoke, optionally only the listed
  functions: ``KEY`` or ``KEY:fn1|fn2``, comma-separated.

Keys may also come from a JSON file (``FAAS_KEYS_FILE``)::

    {"admin": ["KEY", ...],
     "invoke": [{"key": "KEY", "name": "ci", "functions": ["fn1"], "rate_per_s": 50}]}

A request presents its key as ``Authorization: Bearer KEY`` or ``X-Api-Key: KEY``;
it is compared with every key in constant time. With no key at all the server
is open, and the CLI binds it to localhost only. A key over its rate
(``rate_per_s``, else ``FAAS_KEY_RATE_PER_S``; 0 is unlimited; counted across every
node, ``faas.cluster.rates``) gets 429 with
Retry-After: a token bucket per key, in this process.

Every key also signs AWS requests (Signature Version 4, the Lambda API): its
secret is the secret access key, and its access key id is "AKIA" and 16 base32
characters of an HMAC-SHA256 of the secret (``access_key_id_of``), so every node
and every restart agree on it without storing anything. A keys-file entry may
name its own (``"access_key_id"``: 16 to 128 letters, digits or underscores);
two keys with different secrets never share one. The id is public (each signed
request carries it) and tells no more about the secret than a signature does.

A third kind is made, not configured: each function's own key, which its
environment carries as AWS credentials (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, as a Lambda function gets its role's), so that code
calling SQS, SNS or Lambda with an AWS SDK is signed without configuration
(docs/event-sources.md, "AWS SDK calls from functions"). Its access key id names the
function ("FAASFN" and the name in base32, padded with "0"); its secret is an HMAC of the name under
a secret derived from every configured key (``KeyRing.function_key``), so every node
makes and checks the same without storing it. It may use the installation's queues,
topics and functions (or, narrowed per function, those its ``sdk_resources``
patterns name: ``sqs:orders-*``, ``sns:orders``, ``lambda:billing``), never manage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Protocol

from faas.errors import Forbidden, RateLimited, Unauthorized, UnrecognizedClient, ValidationFailed
from faas.settings import Settings

MIN_KEY_LENGTH = 16
# AWS's wording for a request signed with an access key id no key has.
UNRECOGNIZED_CLIENT = "The security token included in the request is invalid."

# Where a request presents its key (header names lower-case, as ASGI gives them).
# Read here, and stripped by ``faas.invoke.http.trigger`` before an HTTP route builds the
# function's event: the key stays with the platform.
AUTHORIZATION = "authorization"
API_KEY = "x-api-key"
BEARER = "bearer "  # the scheme, compared lower-case

# IAM's form of an access key id; a derived one is "AKIA" + 16 base32 characters.
ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9_]{16,128}")
# A function's own key's access key id: this prefix, then its name in base32.
FUNCTION_KEY_PREFIX = "FAASFN"
_ACCESS_KEY_LABEL = b"faas access key id"  # the HMAC's key: ids differ from other uses


def access_key_id_of(secret: str) -> str:
    """The access key id of a key whose secret is ``secret``: stable, derived, public."""
    digest = hmac.digest(_ACCESS_KEY_LABEL, secret.encode(), "sha256")
    return "AKIA" + base64.b32encode(digest).decode("ascii")[:16]


@dataclass(frozen=True)
class ApiKey:
    """One key; ``name`` is what logs may show, never ``secret``."""

    name: str
    secret: str = field(repr=False)
    admin: bool
    # Invoke keys only: the functions it may invoke (None: all of them).
    functions: frozenset[str] | None = None
    rate_per_s: float | None = None
    # Signs AWS requests with ``secret``; derived from it unless given ("" here).
    access_key_id: str = ""
    # A function's own key: that function, and the resources it may use ("service:glob"
    # patterns; None: all of the installation's).
    function: str | None = None
    resources: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.access_key_id:
            object.__setattr__(self, "access_key_id", access_key_id_of(self.secret))

    def may_invoke(self, function: str) -> bool:
        if self.function is not None:
            return self.may_use("lambda", function)
        return self.admin or self.functions is None or function in self.functions

    def may_use(self, service: str, name: str) -> bool:
        """Whether this key may use ``service``'s resource ``name`` (a queue, a topic, a
        function): an admin key anything, a function's key what its patterns allow."""
        if self.admin:
            return True
        if self.function is None:
            return False  # an invoke key: functions only
        if self.resources is None:
            return True
        return any(
            pattern.partition(":")[0] == service and fnmatchcase(name, pattern.partition(":")[2])
            for pattern in self.resources
        )


def function_access_key_id(function: str) -> str:
    """The access key id of ``function``'s own key (public: it names the function)."""
    encoded = base64.b32encode(function.encode()).decode("ascii").rstrip("=")
    # Padded to AWS's 16 characters with "0", which base32 never uses.
    return (FUNCTION_KEY_PREFIX + encoded).ljust(16, "0")


def function_of_access_key(access_key_id: str) -> str | None:
    """The function whose key ``access_key_id`` is, or None if it is no function's."""
    if not access_key_id.startswith(FUNCTION_KEY_PREFIX):
        return None
    encoded = access_key_id[len(FUNCTION_KEY_PREFIX) :].rstrip("0")
    try:
        name = base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    return name if name and function_access_key_id(name) == access_key_id else None


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[ApiKey, ...] = ()
    _by_access_key: dict[str, ApiKey] = field(init=False, repr=False, compare=False)
    # Signs links that need no key (the Lambda API's code location): derived from every
    # key's secret, so every node of one configuration makes and takes the same links;
    # random (this process's links only) on a server without keys.
    link_secret: bytes = field(init=False, repr=False, compare=False)
    _function_secret: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_access_key", {k.access_key_id: k for k in self.keys})
        material = "\n".join(sorted(k.secret for k in self.keys)).encode()
        secret = (
            hmac.new(b"faas link secret", material, hashlib.sha256).digest()
            if self.keys
            else secrets.token_bytes(32)
        )
        object.__setattr__(self, "link_secret", secret)
        object.__setattr__(
            self,
            "_function_secret",
            hmac.new(secret, b"faas function keys", hashlib.sha256).digest(),
        )

    def function_key(self, function: str, resources: tuple[str, ...] | None = None) -> ApiKey:
        """``function``'s own key: the same on every node of this configuration."""
        mac = hmac.new(self._function_secret, function.encode(), hashlib.sha256).digest()
        return ApiKey(
            name=f"function {function}",
            secret=base64.urlsafe_b64encode(mac).decode("ascii").rstrip("="),
            admin=False,
            access_key_id=function_access_key_id(function),
            function=function,
            resources=resources,
        )

    @property
    def open(self) -> bool:
        """No key configured: every request is let through (the server is local-only)."""
        return not self.keys

    def find(self, presented: str) -> ApiKey | None:
        """The key matching ``presented``; every key is compared, in constant time."""
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for key in self.keys:
            if hmac.compare_digest(digest, hashlib.sha256(key.secret.encode()).digest()):
                found = key
        return found

    def by_access_key(self, access_key_id: str) -> ApiKey | None:
        """The key an AWS request's ``Credential`` names (its secret then checks the signature)."""
        return self._by_access_key.get(access_key_id)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        ring = cls(tuple(_env_keys(settings) + _file_keys(settings)))
        ring.check()
        return ring

    def check(self) -> None:
        for key in self.keys:
            if len(key.secret) < MIN_KEY_LENGTH:
                raise ValidationFailed(
                    f"API key {key.name!r} is shorter than {MIN_KEY_LENGTH} characters",
                    field="keys",
                )
        if self.keys and not any(k.admin for k in self.keys):
            raise ValidationFailed(
                "invoke keys are set but no admin key (FAAS_ADMIN_KEY or the keys file's "
                '"admin"): nobody could manage functions',
                field="admin_key",
            )
        seen: dict[str, ApiKey] = {}
        for key in self.keys:
            other = seen.setdefault(key.access_key_id, key)
            # The same secret listed twice is the same credential; two secrets are not.
            if other.secret != key.secret:
                raise ValidationFailed(
                    f"API keys {other.name!r} and {key.name!r} have the same access_key_id "
                    f"{key.access_key_id!r}: each key needs its own",
                    field="keys_file",
                )


def admin_key(settings: Settings) -> ApiKey | None:
    """The admin key for a client of the server ``settings`` configure (None: an open server).

    The keys file's first admin key, else ``FAAS_ADMIN_KEY``'s first; the whole
    configuration is checked as the server checks it, so it is a key the server takes.
    """
    env, in_file = _env_keys(settings), _file_keys(settings)
    KeyRing(tuple(env + in_file)).check()
    return next((key for key in in_file + env if key.admin), None)


def _env_keys(settings: Settings) -> list[ApiKey]:
    keys: list[ApiKey] = []
    for i, secret in enumerate(_split(settings.admin_key)):
        keys.append(ApiKey(f"admin-env-{i + 1}", secret, admin=True))
    for i, entry in enumerate(_split(settings.invoke_keys)):
        secret, _, listed = entry.partition(":")
        functions = frozenset(f.strip() for f in listed.split("|") if f.strip())
        # "KEY" and "KEY:" alike may invoke every function.
        keys.append(ApiKey(f"invoke-env-{i + 1}", secret.strip(), False, functions or None))
    return keys


def _file_keys(settings: Settings) -> list[ApiKey]:
    return _from_file(Path(settings.keys_file)) if settings.keys_file else []


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _from_file(path: Path) -> list[ApiKey]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValidationFailed(f"keys file {path} does not exist", field="keys_file") from None
    except (OSError, ValueError) as exc:
        raise ValidationFailed(
            f"keys file {path} is not readable JSON: {exc}", field="keys_file"
        ) from None
    if not isinstance(data, dict) or set(data) - {"admin", "invoke"}:
        raise ValidationFailed(
            f'keys file {path} must be an object with "admin" and "invoke" lists',
            field="keys_file",
        )
    keys = []
    for role in ("admin", "invoke"):
        entries = data.get(role, [])
        if not isinstance(entries, list):
            raise ValidationFailed(f'keys file {path}: "{role}" must be a list', field="keys_file")
        for i, entry in enumerate(entries):
            keys.append(_entry(path, role, i, entry))
    return keys


def _entry(path: Path, role: str, index: int, entry: Any) -> ApiKey:
    if isinstance(entry, str):
        entry = {"key": entry}
    where = f"keys file {path}: {role}[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise ValidationFailed(f'{where} must be a string or {{"key": ...}}', field="keys_file")
    unknown = set(entry) - {"key", "name", "functions", "rate_per_s", "access_key_id"}
    if unknown:
        raise ValidationFailed(f"{where}: unknown field {sorted(unknown)[0]!r}", field="keys_file")
    functions = entry.get("functions")
    if functions is not None and not (
        isinstance(functions, list) and all(isinstance(f, str) for f in functions)
    ):
        raise ValidationFailed(f"{where}: functions must be a list of names", field="keys_file")
    rate = entry.get("rate_per_s")
    if rate is not None and (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not math.isfinite(rate)
        or rate < 0
    ):
        raise ValidationFailed(f"{where}: rate_per_s must be a number >= 0", field="keys_file")
    access_key_id = entry.get("access_key_id", "")
    if "access_key_id" in entry and not (
        isinstance(access_key_id, str) and ACCESS_KEY_ID.fullmatch(access_key_id)
    ):
        raise ValidationFailed(
            f"{where}: access_key_id must be 16 to 128 letters, digits or underscores",
            field="keys_file",
        )
    return ApiKey(
        name=str(entry.get("name") or f"{role}-file-{index + 1}"),
        secret=entry["key"],
        admin=role == "admin",
        functions=frozenset(functions) if functions is not None and role == "invoke" else None,
        rate_per_s=float(rate) if rate is not None else None,
        access_key_id=access_key_id,
    )


def new_key() -> str:
    return secrets.token_urlsafe(32)


def init_keys_file(path: Path) -> str:
    """Create ``path`` with a fresh admin key unless it exists; return its admin key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"admin": [{"key": new_key(), "name": "admin"}], "invoke": []}, out, indent=2)
        try:
            os.link(tmp, path)  # never replaces a file another process made meanwhile
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return admin_key_of(path)


def admin_key_of(path: Path) -> str:
    for key in _from_file(path):
        if key.admin:
            return key.secret
    raise ValidationFailed(f"keys file {path} has no admin key", field="keys_file")


def presented_key(headers: Mapping[str, str] | Callable[[str], str]) -> str | None:
    """The key of ``Authorization: Bearer KEY`` or ``X-Api-Key: KEY`` (lower-case names)."""
    get = headers if callable(headers) else (lambda name: headers.get(name, ""))
    auth = get(AUTHORIZATION).strip()
    if is_bearer(auth):
        return auth[len(BEARER) :].strip() or None
    return get(API_KEY).strip() or None


def is_bearer(authorization: str) -> bool:
    """Whether an ``Authorization`` value is a Bearer token (another scheme is no key)."""
    return authorization.strip()[: len(BEARER)].lower() == BEARER


class RateStore(Protocol):
    """Token buckets every node draws on (``faas.cluster.rates``: in Redis)."""

    async def take(self, bucket: str, rate: float, now_s: float) -> float:
        """Take a token: 0 if granted, else the seconds until one is there."""
        ...


class Access:
    """Decides each request: authenticates its key and checks its role (at once, before
    the body), then its rate (``limit``: a bucket the whole cluster shares)."""

    def __init__(
        self,
        ring: KeyRing,
        rates: RateStore,
        default_rate_per_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ring = ring
        self._rates = rates
        self._default_rate = default_rate_per_s
        self._clock = clock

    def _authenticate(self, presented: str | None) -> ApiKey:
        if presented is None:
            raise Unauthorized(
                "an API key is needed: send Authorization: Bearer KEY or X-Api-Key: KEY"
            )
        key = self.ring.find(presented)
        if key is None:
            raise Forbidden("the API key is not valid")
        return key

    async def limit(self, key: ApiKey | None) -> None:
        """``RateLimited`` if ``key`` (None: an open server's caller) is over its rate,
        counted across every node. Keys are told apart by their access key id, derived
        from the secret: names are labels and need not be unique."""
        if key is None:
            return
        rate = key.rate_per_s if key.rate_per_s is not None else self._default_rate
        if rate <= 0:
            return
        wait = await self._rates.take(key.access_key_id, rate, self._clock())
        if wait > 0:
            raise RateLimited(
                f"API key {key.name!r} is over its rate of {rate:g} requests a second",
                retry_after_s=max(1, math.ceil(wait)),
            )

    def admin(self, presented: str | None) -> ApiKey | None:
        """For the management API; None on an open server."""
        if self.ring.open:
            return None
        return self.may_manage(self._authenticate(presented))

    def invoke(self, presented: str | None, function: str) -> ApiKey | None:
        """For invoking ``function``; None on an open server."""
        if self.ring.open:
            return None
        return self.may_invoke(self._authenticate(presented), function)

    def signer(self, access_key_id: str) -> ApiKey:
        """The key an AWS request was signed with (its signature is checked by the
        caller, then its rate, ``limit``); ``UnrecognizedClient`` if no key has that id."""
        key = self.ring.by_access_key(access_key_id)
        if key is None:
            function = function_of_access_key(access_key_id)
            if function is None:
                raise UnrecognizedClient(UNRECOGNIZED_CLIENT)
            # Its patterns are the function's (applied by the caller, which can read it).
            key = self.ring.function_key(function)
        return key

    @staticmethod
    def may_manage(key: ApiKey) -> ApiKey:
        if key.function is not None:
            raise Forbidden(
                f"the key of function {key.function!r} may use queues, topics and functions "
                "but not manage them"
            )
        if not key.admin:
            raise Forbidden(f"API key {key.name!r} may invoke functions but not manage them")
        return key

    @staticmethod
    def may_use(key: ApiKey, service: str, name: str) -> ApiKey:
        """For an SQS or SNS call on the resource ``name`` (a queue or topic name)."""
        if not key.may_use(service, name):
            whose = f"function {key.function!r}" if key.function else f"API key {key.name!r}"
            raise Forbidden(f"the key of {whose} may not use {service} resource {name!r}")
        return key

    @staticmethod
    def may_invoke(key: ApiKey, function: str) -> ApiKey:
        if not key.may_invoke(function):
            raise Forbidden(f"API key {key.name!r} may not invoke function {function!r}")
        return key

    def caller(self, presented: str | None) -> ApiKey | None:
        """Any valid key, admin or invoke; None on an open server."""
        if self.ring.open:
            return None
        return self._authenticate(presented)

    def route(self, presented: str | None, function: str) -> ApiKey | None:
        """For an HTTP route whose auth is "key": a key is needed even on an open server."""
        if self.ring.open:
            if presented is None:
                self._authenticate(None)
            raise Forbidden("this route needs an API key, and the server has none")
        return self.invoke(presented, function)

    async def route_within_rate(self, presented: str | None, function: str) -> None:
        """``route``, then the key's rate."""
        await self.limit(self.route(presented, function))
