"""The sockets the gateway listens on: the node's port, a worker process's own, the API's.

- **The node's port** (``FAAS_HOST:FAAS_PORT``). One ``faas serve`` binds it alone.
  With ``--workers N`` each worker process binds it too, with ``SO_REUSEPORT``:
  the kernel spreads new connections over the processes that listen, by a hash of
  the connection's addresses. One socket inherited by every worker would leave the
  spreading to whichever process wakes first: asyncio accepts up to its backlog
  per wake-up, so a burst of new connections (``wrk -c32``'s) lands on one process.
  The supervisor binds the port too, without listening: a port in use is refused
  before any worker starts, and the port stays this node's while workers restart.
- **A worker's own port**: the address that reaches that one process (and its warm
  instances), which it advertises (``Settings.process_url``).
- **The API's Unix socket** (``<data>/api/api.sock``), which sandboxes reach
  mounted read-only: bound once per node (by the supervisor when there are
  workers, so it outlives any of them) and accepted on by every process.

Sockets are returned bound but not listening: asyncio's ``create_server`` calls
``listen`` when the app has started, so a worker that is still starting is not
handed connections it cannot answer yet.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit


def tcp(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free one), not listening; ``shared``:
    other sockets of this user may bind the same port, and share its connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def served(host: str, port: int) -> bool:
    """Whether something accepts connections at ``host:port`` already (a wildcard host:
    on loopback). Sockets that share a port (``shared``) do not refuse one another: a
    second node's workers would take half of the first one's connections unnoticed."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def own_url(node_url: str, port: int) -> str:
    """The URL of a worker process's own port: the node's advertised host, that port.
    Plain HTTP: the process serves it itself, whatever proxy the node's URL names."""
    host = urlsplit(node_url).hostname or "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def api(path: Path) -> socket.socket | None:
    """A listening Unix socket at ``path`` that any user may connect to (the sandboxes'
    uid), or None if another live server of this node listens there already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o755)
    if path.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
            return None  # served: that server's sandboxes and ours reach the same APIs
        except OSError:
            path.unlink()  # a dead server's
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o666)
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock
