"""systemd's notification protocol, spoken directly: datagrams such as ``READY=1``,
``WATCHDOG=1``, ``STOPPING=1`` to the Unix socket named by ``$NOTIFY_SOCKET`` (a path, or an
abstract name starting with ``@``). No systemd library needed; outside systemd (no
``$NOTIFY_SOCKET``) every call is a no-op.
"""
from __future__ import annotations

import logging
import os
import socket
from typing import Mapping, Optional

log = logging.getLogger("snnedge.daemon.notify")


class Notifier:
    """One datagram socket to the service manager, and the watchdog interval it asked for."""

    def __init__(self, env: Optional[Mapping[str, str]] = None) -> None:
        env = os.environ if env is None else env
        self.address = env.get("NOTIFY_SOCKET") or None
        self._sock: Optional[socket.socket] = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        ours = not pid or pid == str(os.getpid())
        #: seconds between WATCHDOG=1 pings (half the manager's timeout), None without a watchdog
        self.watchdog_interval_s: Optional[float] = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and ours else None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Sends ``message`` (e.g. ``READY=1\\nSTATUS=...``); False when there is no manager or it failed."""
        if not self.address:
            return False
        addr = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)  # a manager that stops reading must not stall us
            self._sock.sendto(message.encode(), addr)
            return True
        except BlockingIOError:
            log.debug("sd_notify: the manager's socket is full; %r not sent", message.split("\n")[0])
            return False
        except OSError as e:
            log.warning("sd_notify failed: %s", e, extra={"fields": {"event": "notify.failed"}})
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else "") + f"\nMAINPID={os.getpid()}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        return self.notify("RELOADING=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


__all__ = ["Notifier"]
