"""The supervisor of ``faas serve --workers N``: N gateway processes on one port, kept alive.

Python runs one thread of Python at a time, and one ``faas serve`` saturates one
core at about 4,000 warm invokes/s while the machine's other cores idle. So a node
may run N worker processes, each a full member of the node: its own owner id
(``serve-<i>``, kept across its restarts, so a replacement reaps what the dead one
left at once: ``faas.compute.owners``), its own sandboxes, scheduler, async worker,
pollers and ticker (cluster-safe already), the node's id, data dir and port.

The supervisor (this process) forks them after the checks every ``faas serve``
makes, and then only watches:

- a worker that dies is forked again, at once if it had run for a while, else after
  a pause that doubles while it keeps dying (``restart_delay``); a worker that could
  not start (uvicorn's exit 3) before any worker ever served stops the node instead,
  as a lone ``faas serve`` that cannot start exits;
- SIGTERM or SIGINT is passed on to every worker as SIGTERM (each stops gracefully:
  drains its requests and async events, removes its sandboxes), and the supervisor
  exits when they have, 0 if every one stopped cleanly;
- a worker learns of its supervisor's death by SIGTERM (``PR_SET_PDEATHSIG``), so a
  SIGKILLed supervisor leaves no worker behind.

A worker tells the supervisor it serves (its app started, its sockets listen) by a
byte on a pipe; the supervisor logs it, and a worker that served counts as started.
Nothing else passes between them: what a worker needs was settled before the fork.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("faas")

# uvicorn's exit code when the app's start-up failed (uvicorn.config.STARTUP_FAILURE).
STARTUP_FAILURE = 3
# A worker that ran this long before it died is restarted at once.
STEADY_S = 10.0
RESTART_FIRST_S = 0.5
RESTART_MAX_S = 30.0
_PR_SET_PDEATHSIG = 1

Ready = Callable[[], None]
# What a forked worker runs: its index and how to say it serves; its exit code.
WorkerMain = Callable[[int, Ready], int]


def restart_delay(failures: int) -> float:
    """How long to wait before forking a worker again after ``failures`` quick deaths in
    a row (a death after ``STEADY_S`` of life resets the count: restarted at once)."""
    if failures <= 0:
        return 0.0
    return min(RESTART_MAX_S, RESTART_FIRST_S * 2.0 ** (failures - 1))


def owner_of(index: int) -> str:
    """The owner id of worker ``index``, the same across its restarts."""
    return f"serve-{index}"


@dataclass
class Slot:
    """One worker's place: its process now, and how its last ones fared."""

    index: int
    pid: int = 0
    started: float = 0.0
    failures: int = 0
    due: float = 0.0  # when to fork it again, while pid is 0
    ready_fd: int = -1
    served: bool = False

    @property
    def owner(self) -> str:
        return owner_of(self.index)


class Supervisor:
    """Forks ``count`` workers running ``main`` and keeps them until told to stop."""

    def __init__(self, count: int, main: WorkerMain) -> None:
        self._slots = [Slot(i) for i in range(count)]
        self._main = main
        self._stop_signals: list[int] = []
        self._passed_on = 0
        self._stopping = False
        self._anyone_served = False
        self._failed_start = False
        self._codes: list[int] = []

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        previous_fd = signal.set_wakeup_fd(wake_w)
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
        }
        try:
            for slot in self._slots:
                self._fork(slot, (wake_r, wake_w))
            while True:
                self._reap()
                if len(self._stop_signals) > self._passed_on:
                    # Each one passed on: a worker still loading may have let one by.
                    self._passed_on = len(self._stop_signals)
                    self._stop(signal.Signals(self._stop_signals[-1]).name)
                if self._stopping and not any(s.pid for s in self._slots):
                    break
                now = time.monotonic()
                if not self._stopping:
                    for slot in self._slots:
                        if not slot.pid and slot.due <= now:
                            self._fork(slot, (wake_r, wake_w))
                self._wait(wake_r)
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)
        if self._failed_start:
            return 1
        return 0 if all(code == 0 for code in self._codes) else 1

    # -- the loop's steps ------------------------------------------------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        # The wake-up fd tells the loop; here only what it must know.
        if signum != signal.SIGCHLD:
            self._stop_signals.append(signum)

    def _stop(self, why: str) -> None:
        self._stopping = True
        live = [s for s in self._slots if s.pid]
        log.info("%s: stopping %d worker processes", why, len(live))
        for slot in live:
            _kill(slot.pid, signal.SIGTERM)

    def _wait(self, wake_r: int) -> None:
        """Until a signal, a worker's ready byte, or the next restart falls due."""
        watched = {s.ready_fd: s for s in self._slots if s.ready_fd >= 0}
        pending = [s.due for s in self._slots if not s.pid and not self._stopping]
        timeout = max(0.0, min(pending) - time.monotonic()) if pending else None
        readable, _, _ = select.select([wake_r, *watched], [], [], timeout)
        for fd in readable:
            if fd == wake_r:
                _drain(wake_r)
                continue
            slot = watched[fd]
            if os.read(fd, 1):  # b"": its end closed before it served (it died)
                slot.served = True
                self._anyone_served = True
                log.info("worker %s (pid %d) serves", slot.owner, slot.pid)
            os.close(fd)
            slot.ready_fd = -1

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((s for s in self._slots if s.pid == pid), None)
            if slot is None:
                continue
            self._ended(slot, os.waitstatus_to_exitcode(status))

    def _ended(self, slot: Slot, code: int) -> None:
        lived = time.monotonic() - slot.started
        slot.pid = 0
        if slot.ready_fd >= 0:
            os.close(slot.ready_fd)
            slot.ready_fd = -1
        how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
        if self._stopping:
            # Killed by the SIGTERM passed on before its server took the signal: stopped.
            self._codes.append(0 if code == -signal.SIGTERM else code)
            if code not in (0, -signal.SIGTERM):
                log.warning("worker %s %s while stopping", slot.owner, how)
            return
        if code == STARTUP_FAILURE and not self._anyone_served:
            # Nothing ever served: a setting or a dependency is wrong, not a crash.
            log.error("worker %s could not start; stopping the node", slot.owner)
            self._failed_start = True
            self._stop("a worker could not start")
            return
        slot.failures = 0 if lived >= STEADY_S else slot.failures + 1
        delay = restart_delay(slot.failures)
        slot.due = time.monotonic() + delay
        log.warning(
            "worker %s %s after %.1f s; starting it again in %.1f s", slot.owner, how, lived, delay
        )

    def _fork(self, slot: Slot, wake: tuple[int, int]) -> None:
        ready_r, ready_w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the supervisor's stack
            os.close(ready_r)
            _become_worker(parent, wake, [s.ready_fd for s in self._slots if s.ready_fd >= 0])
            os._exit(_run(self._main, slot.index, ready_w))
        os.close(ready_w)
        slot.pid, slot.started, slot.ready_fd, slot.served = pid, time.monotonic(), ready_r, False
        log.info("worker %s started (pid %d)", slot.owner, pid)


def _become_worker(parent: int, wake: tuple[int, int], inherited: list[int]) -> None:
    """Undo the supervisor's signal set-up in a forked worker, and die with the supervisor."""
    signal.set_wakeup_fd(-1)
    for fd in (*wake, *inherited):
        os.close(fd)
    # Until the worker's server takes them (it stops gracefully then), a stop ends it.
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before the line above
            os.kill(os.getpid(), signal.SIGTERM)


def _run(main: WorkerMain, index: int, ready_w: int) -> int:
    def ready() -> None:
        try:
            os.write(ready_w, b"1")
        except OSError:
            pass  # the supervisor is gone: nobody to tell

    try:
        return main(index, ready)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
