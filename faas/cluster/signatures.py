"""Node-to-node calls, signed: an HMAC of what is asked for and when, in one header.

The secret is derived from the configured keys (``KeyRing.link_secret``), so every
node of one configuration signs and checks alike and nothing new is configured. A
server without keys has no shared secret (its link secret is random per process):
it takes peer calls from loopback only (``peer_allowed``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

HEADER = "x-faas-peer"
# A signature older (or further ahead) than this is refused: a copied header is
# good for a minute, and nodes' clocks may be that far apart.
MAX_SKEW_S = 60


def peer_secret(link_secret: bytes) -> bytes:
    """The secret of node-to-node calls, apart from the Lambda API's code links."""
    return hmac.new(link_secret, b"faas peer calls", hashlib.sha256).digest()


def sign(secret: bytes, subject: str, now: float) -> str:
    """The header value for a call about ``subject`` (a sha256, say) made at ``now``."""
    stamp = int(now)
    return f"{stamp}.{_mac(secret, subject, stamp)}"


def verify(secret: bytes, subject: str, header: str, now: float) -> bool:
    """Whether ``header`` signs ``subject`` with ``secret`` within ``MAX_SKEW_S`` of ``now``."""
    stamp_text, _, given = header.partition(".")
    try:
        stamp = int(stamp_text)
    except ValueError:
        return False
    if abs(now - stamp) > MAX_SKEW_S:
        return False
    return hmac.compare_digest(given, _mac(secret, subject, stamp))


def peer_allowed(open_server: bool, client_host: str, signed: bool) -> bool:
    """Who may call a node's internal routes: a signed peer; on a server without keys,
    a peer on this host (no secret is shared, and the server listens on loopback)."""
    if not open_server:
        return signed
    try:
        return ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        return False


def _mac(secret: bytes, subject: str, stamp: int) -> str:
    return hmac.new(secret, f"{subject}/{stamp}".encode(), hashlib.sha256).hexdigest()
