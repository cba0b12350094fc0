"""Access control at the edge: a request's key is checked before its body is read.

What each route needs is written in its row of ``gateway.routes`` (a ``Role``);
``gateway.edge.table`` finds a request's row, deny by default: a path
the table does not know needs the admin key, so a new management route can never
be left open by mistake. On a server without keys everything is let through (it
listens on localhost only).
"""

from __future__ import annotations

from faas import auth
from faas.auth import ApiKey
from faas.platform import Platform
from gateway.edge.table import Role


async def check(
    platform: Platform, role: Role, function: str | None, headers: list[tuple[bytes, bytes]]
) -> ApiKey | None:
    """The key ``headers`` present, if it may act as ``role`` (else 401, 403 or 429 is raised).

    ``role`` is one that takes a key, not ``PUBLIC`` or ``TRIGGER``; ``function`` is
    the function an ``INVOKE`` request invokes. The key's rate is checked last, so a
    refused request spends none of it.
    """
    presented = auth.presented_key({k.decode("latin-1"): v.decode("latin-1") for k, v in headers})
    access = platform.access
    if role is Role.ADMIN:
        key = access.admin(presented)
    elif role is Role.INVOKE:
        key = access.invoke(presented, function or "")
    else:
        key = access.caller(presented)
    await access.limit(key)
    return key
