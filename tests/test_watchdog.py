"""The kiosk feeds systemd's watchdog from the UI loop (a socket the test listens on)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from kiosk.watchdog import Watchdog, sd_notify, watchdog_interval_ms


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    yield sock, path
    sock.close()


def _received(sock: socket.socket) -> list[str]:
    out: list[str] = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_ready_then_watchdog_from_the_ui_loop(
    qtbot: QtBot, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}
    dog = Watchdog(env=env)
    assert dog.interval_ms == 100
    dog.start(status="kiosk ready")
    messages: list[str] = []

    def fed_three_times() -> None:
        messages.extend(_received(sock))
        assert messages.count("WATCHDOG=1") >= 3

    qtbot.waitUntil(fed_three_times, timeout=5000)
    assert messages[0] == "READY=1\nSTATUS=kiosk ready"
    # A blocked UI loop feeds nothing: systemd would restart the kiosk.
    time.sleep(0.35)
    assert _received(sock) == []
    dog.stop()
    assert _received(sock)[-1] == "STOPPING=1"


def test_abstract_socket_address() -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"hadir-test-{os.getpid()}"
    sock.bind("\0" + name)
    try:
        assert sd_notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()


def test_not_under_systemd_or_another_process_s_watchdog() -> None:
    assert not sd_notify("READY=1", {})
    assert watchdog_interval_ms({}) is None
    assert watchdog_interval_ms({"WATCHDOG_USEC": "30000000"}) == 15000
    # cage runs the kiosk: WATCHDOG_PID names the parent
    assert watchdog_interval_ms({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getppid())})
    assert watchdog_interval_ms({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "999999999"}) is None
