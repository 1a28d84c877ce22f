"""systemd's notify protocol, spoken directly on ``$NOTIFY_SOCKET`` (a unix datagram socket), so
the service needs no extra library: READY=1, WATCHDOG=1, STATUS=..., STOPPING=1, RELOADING=1.
Outside systemd (no ``$NOTIFY_SOCKET``) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class Notifier:
    """Sends notify messages; ``watchdog_interval`` is how often to ping, None without a watchdog."""

    def __init__(self, environ=os.environ, fraction: float = 0.5):
        address = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock = None
        if self.address:
            # non-blocking: a notify socket nobody reads must never stall the coaching loop
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        enabled = usec.isdigit() and (not pid or pid == str(os.getpid()))
        self.watchdog_interval = int(usec) / 1e6 * fraction if enabled else None
        self._last_ping = -1e9

    def send(self, *lines: str) -> bool:
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:  # systemd went away, its queue is full, or a test's socket closed
            log.debug("sd_notify: %s", exc)
            return False
        return True

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def ping(self, now: float | None = None) -> bool:
        """WATCHDOG=1 when the watchdog is on, at most once per ``watchdog_interval``."""
        now = time.monotonic() if now is None else now
        if self.watchdog_interval is None or now - self._last_ping < self.watchdog_interval:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
