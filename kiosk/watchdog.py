"""systemd's watchdog, fed from the kiosk's UI loop.

Under ``Type=notify`` and ``WatchdogSec=`` systemd sets ``NOTIFY_SOCKET`` and
``WATCHDOG_USEC``; the kiosk says ``READY=1`` once it is up and then
``WATCHDOG=1`` from a Qt timer on the UI thread at half the interval. A UI
loop that hangs (a deadlock, a slow call on the main thread) stops the
feeding and systemd restarts the kiosk. The protocol is one datagram on a
Unix socket (sd_notify(3)); an address starting with ``@`` is abstract.

Under ``cage`` the kiosk is cage's child, so ``WATCHDOG_PID`` names cage: the
watchdog is ours when it names this process or its parent (the unit sets
``NotifyAccess=all`` so that systemd accepts the child's messages).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)


def sd_notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``) to systemd; False when not under systemd."""
    address = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", address.lstrip("\0"), exc)
        return False
    return True


def watchdog_interval_ms(env: Mapping[str, str] | None = None) -> int | None:
    """Half of ``WATCHDOG_USEC`` in ms, or None when no watchdog is set for this process."""
    env = env if env is not None else os.environ
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid not in (str(os.getpid()), str(os.getppid())):
        return None
    return max(50, usec // 2000)


class Watchdog:
    """READY=1 at start, WATCHDOG=1 from the UI thread, STOPPING=1 at the end."""

    def __init__(self, parent: QObject | None = None, env: Mapping[str, str] | None = None):
        self.env = dict(env if env is not None else os.environ)
        self.interval_ms = watchdog_interval_ms(self.env)
        self.fed = 0
        self.timer: QTimer | None = None
        self._parent = parent

    def start(self, status: str = "") -> None:
        from PySide6.QtCore import QTimer

        message = "READY=1" + (f"\nSTATUS={status}" if status else "")
        if not sd_notify(message, self.env):
            return
        if self.interval_ms is None:
            log.info("systemd notified: ready (no watchdog)")
            return
        self.timer = QTimer(self._parent)
        self.timer.timeout.connect(self.feed)
        self.timer.start(self.interval_ms)
        log.info("systemd notified: ready; watchdog fed every %d ms", self.interval_ms)

    def feed(self) -> None:
        if sd_notify("WATCHDOG=1", self.env):
            self.fed += 1

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        sd_notify("STOPPING=1", self.env)
