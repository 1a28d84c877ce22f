"""The running service's control socket: ``pi-coach status`` asks how it is, ``pi-coach rules
install`` asks it to reload and hears whether it accepted. One JSON line in, one JSON line out,
over a unix socket in the state directory (mode 0660: the ``pi-coach`` group may talk to it, so
instructors need neither root nor systemctl).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from pathlib import Path

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"


class ControlError(RuntimeError):
    """No service answering on the socket (not running, or no permission)."""


class ControlServer:
    """Answers requests on a thread; ``handlers`` maps a command name to a function of the
    request dict returning a JSON-able dict."""

    def __init__(self, path: str | Path, handlers: dict):
        self.path, self.handlers = Path(path), handlers
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)

    def start(self) -> ControlServer | None:
        """Listen, or log why not and return None (coaching does not need the socket)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            sock.bind(str(self.path))
            os.chmod(self.path, 0o660)
            sock.listen(4)
        except OSError as exc:
            log.warning("control socket %s: %s; status and reload requests will not be answered", self.path, exc)
            return None
        self._sock = sock
        self._thread.start()
        return self

    def _serve(self) -> None:
        while self._sock is not None:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            with conn:
                conn.settimeout(30)
                try:
                    request = json.loads(conn.makefile("r").readline() or "{}")
                    handler = self.handlers.get(request.get("cmd"))
                    reply = handler(request) if handler else {"error": f"unknown command {request.get('cmd')!r}"}
                    conn.sendall((json.dumps(reply) + "\n").encode())
                except (OSError, ValueError) as exc:
                    log.debug("control request failed: %s", exc)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
            self.path.unlink(missing_ok=True)


def request(path: str | Path, cmd: str, timeout: float = 15.0, **fields) -> dict:
    """Send one command to the service and return its answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
            line = sock.makefile("r").readline()
    except (FileNotFoundError, ConnectionRefusedError):
        raise ControlError(f"no pi-coach service is answering at {path}") from None
    except PermissionError:
        raise ControlError(f"{path}: permission denied (join the pi-coach group: sudo adduser $USER pi-coach)") from None
    except OSError as exc:
        raise ControlError(f"{path}: {exc}") from None
    if not line:
        raise ControlError(f"{path}: the service closed the connection without answering")
    return json.loads(line)
