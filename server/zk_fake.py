"""A simulated ZKTeco machine speaking the binary protocol on TCP (a hardware fake).

Enough of the "ZK6/ZK8" protocol for a pull: connect, exit, enable/disable,
option reads (``~SerialNumber``), firmware version, free sizes (record and
user counts), the buffered read (1503) of the attendance log and the user
table, free data, get time, clear attendance log. Every packet is
``0x5050 0x7D82 <u32 length>`` followed by the header ``<u16 command,
checksum, session, reply id>`` and the payload. Attendance records are
the 40-byte form of firmware 6.60+ (``<H24sB4sB8s``: uid, user id, verify
type, encoded time, punch state, padding); ``record_size=8`` or ``16``
gives the older forms.

Tests point the real pull code (pyzk) at :attr:`FakeZkMachine.port` on
loopback. ``corrupt`` records (an impossible date, a user id that is not a
PIN) can be planted to check that one bad record never fails a pull.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field
from datetime import datetime

TOP1, TOP2 = 0x5050, 0x7D82
CMD_CONNECT, CMD_EXIT, CMD_ENABLE, CMD_DISABLE = 1000, 1001, 1002, 1003
CMD_OPTIONS_RRQ, CMD_GET_VERSION, CMD_FREE_SIZES = 11, 1100, 50
CMD_ATTLOG_RRQ, CMD_CLEAR_ATTLOG, CMD_USERTEMP_RRQ = 13, 15, 9
CMD_PREPARE_BUFFER, CMD_FREE_DATA, CMD_GET_TIME = 1503, 1502, 201
ACK_OK, ACK_ERROR, CMD_DATA, ACK_UNKNOWN = 2000, 2001, 1501, 0xFFFF


def encode_time(t: datetime) -> int:
    """The machine's packed wall time (seconds in a 31-day-month calendar from 2000)."""
    return (
        ((t.year % 100) * 12 * 31 + (t.month - 1) * 31 + t.day - 1) * 86400
        + (t.hour * 60 + t.minute) * 60
        + t.second
    )


def encode_fields(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """Like :func:`encode_time` but for any fields, impossible dates included."""
    return (
        ((year % 100) * 12 * 31 + (month - 1) * 31 + day - 1) * 86400
        + (hour * 60 + minute) * 60
        + second
    )


@dataclass
class FakeRecord:
    user_id: str
    when: datetime | tuple[int, int, int, int, int, int]
    punch: int = 0  # 0 check-in, 1 check-out, ...
    verify: int = 1  # 1 fingerprint, 15 face, ...
    uid: int = 0

    def packed_time(self) -> int:
        if isinstance(self.when, datetime):
            return encode_time(self.when)
        return encode_fields(*self.when)


@dataclass
class FakeZkMachine:
    """Serve one machine on 127.0.0.1:<port>; ``start()`` / ``stop()`` or a ``with`` block."""

    serial: str = "ZKFAKE0001"
    records: list[FakeRecord] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # user id -> name
    record_size: int = 40
    clock: datetime = field(default_factory=lambda: datetime(2026, 11, 28, 8, 0, 0))
    commands: list[int] = field(default_factory=list)  # every command received, in order
    cleared: int = 0
    # Records that arrive on the machine right after its log was read (to test clearing).
    arrive_after_read: list[FakeRecord] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeZkMachine:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(4)
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="zk-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> FakeZkMachine:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- protocol ----------------------------------------------------------------------
    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self._session(conn)
                except (OSError, struct.error):
                    continue

    @staticmethod
    def _read_exact(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def _session(self, conn: socket.socket) -> None:
        session = 0x2A17
        while not self._stop.is_set():
            top = self._read_exact(conn, 8)
            t1, t2, length = struct.unpack("<HHI", top)
            if (t1, t2) != (TOP1, TOP2) or not 8 <= length <= 1 << 20:
                return
            packet = self._read_exact(conn, length)
            command, _checksum, _session, reply = struct.unpack("<4H", packet[:8])
            payload = packet[8:]
            with self._lock:
                self.commands.append(command)
                code, data = self._answer(command, payload)
            header = struct.pack("<4H", code, 0, session, reply)
            body = header + data
            conn.sendall(struct.pack("<HHI", TOP1, TOP2, len(body)) + body)
            if command == CMD_EXIT:
                return

    def _answer(self, command: int, payload: bytes) -> tuple[int, bytes]:
        if command in (CMD_CONNECT, CMD_EXIT, CMD_ENABLE, CMD_DISABLE, CMD_FREE_DATA):
            return ACK_OK, b""
        if command == CMD_OPTIONS_RRQ:
            key = payload.split(b"\x00")[0]
            values = {b"~SerialNumber": self.serial.encode(), b"~Platform": b"ZMM220_TFT"}
            if key not in values:
                return ACK_ERROR, b""
            return ACK_OK, key + b"=" + values[key] + b"\x00"
        if command == CMD_GET_VERSION:
            return ACK_OK, b"Ver 6.60 Apr 28 2017\x00"
        if command == CMD_GET_TIME:
            return ACK_OK, struct.pack("<I", encode_time(self.clock))
        if command == CMD_FREE_SIZES:
            fields = [0] * 20
            fields[4] = len(self.users)
            fields[8] = len(self.records)
            fields[15], fields[16] = 3000, 100000
            return ACK_OK, struct.pack("<20i", *fields) + struct.pack("<3i", 0, 0, 0)
        if command == CMD_PREPARE_BUFFER:
            _one, inner, _fct, _ext = struct.unpack("<bhii", payload[:11])
            if inner == CMD_ATTLOG_RRQ:
                data = self._attlog_buffer()
                self.records.extend(self.arrive_after_read)
                self.arrive_after_read = []
                return CMD_DATA, data
            if inner == CMD_USERTEMP_RRQ:
                return CMD_DATA, self._user_buffer()
            return ACK_ERROR, b""
        if command == CMD_CLEAR_ATTLOG:
            self.cleared += len(self.records)
            self.records = []
            return ACK_OK, b""
        return ACK_UNKNOWN, b""

    def _attlog_buffer(self) -> bytes:
        out = []
        for i, r in enumerate(self.records):
            uid = r.uid or i + 1
            if self.record_size == 8:
                out.append(struct.pack("<HBIB", uid, r.verify, r.packed_time(), r.punch))
            elif self.record_size == 16:
                user = int(r.user_id) if r.user_id.isdigit() else 0
                out.append(
                    struct.pack(
                        "<I4sBB2sI",
                        user,
                        struct.pack("<I", r.packed_time()),
                        r.verify,
                        r.punch,
                        b"\x00\x00",
                        0,
                    )
                )
            else:
                out.append(
                    struct.pack(
                        "<H24sB4sB8s",
                        uid,
                        r.user_id.encode()[:24],
                        r.verify,
                        struct.pack("<I", r.packed_time()),
                        r.punch,
                        b"",
                    )
                )
        body = b"".join(out)
        return struct.pack("<I", len(body)) + body

    def _user_buffer(self) -> bytes:
        out = []
        for i, (user_id, name) in enumerate(sorted(self.users.items()), start=1):
            out.append(
                struct.pack(
                    "<HB8s24sIx7sx24s",
                    i,
                    0,
                    b"",
                    name.encode()[:24],
                    0,
                    b"1",
                    user_id.encode()[:24],
                )
            )
        body = b"".join(out)
        return struct.pack("<I", len(body)) + body
