"""A simulated fingerprint module speaking the real UART packet protocol.

It sits beside :mod:`recognition.fingerprint` as the camera fakes sit beside
the camera: the driver talks to it through the same bytes it would send over
the serial line, so the framing, checksums, confirmation codes and template
transfer are exercised for real. A "finger" is a name; its template is a
deterministic 512-byte blob derived from that name, and the library matches
a capture to a stored template when both come from the same finger.

Test hooks: :meth:`place`/:meth:`lift` a finger, :attr:`smudged` (the next
image is too poor), :attr:`silent` (unplugged: commands are lost, nothing answers),
:attr:`corrupt_next` (the next reply has a bad checksum). :class:`PtyBridge`
serves the fake on a pseudo-terminal for the real serial path.
"""

from __future__ import annotations

import hashlib
import os
import select
import struct
import threading
import tty

from recognition.fingerprint import (
    DEFAULT_ADDRESS,
    DELETE_CHAR,
    DOWN_CHAR,
    EMPTY,
    GEN_IMG,
    HEADER,
    IMG2TZ,
    LOAD_CHAR,
    MAX_DATA,
    PID_ACK,
    PID_COMMAND,
    PID_DATA,
    PID_END,
    REG_MODEL,
    SEARCH,
    STORE,
    TEMPLATE_COUNT,
    UP_CHAR,
    VERIFY_PASSWORD,
    checksum,
    encode_packet,
)

TEMPLATE_BYTES = 512
_MAGIC = b"HFP1"


def template_of(finger: str) -> bytes:
    """The fake template of a finger: magic, then a hash-derived body."""
    body = b""
    counter = 0
    while len(body) < TEMPLATE_BYTES - len(_MAGIC):
        body += hashlib.sha256(f"{finger}:{counter}".encode()).digest()
        counter += 1
    return _MAGIC + body[: TEMPLATE_BYTES - len(_MAGIC)]


class FakeFingerprintModule:
    """In-memory module; ``write`` takes packets, ``read`` returns the replies."""

    def __init__(self, capacity: int = 1000, password: int = 0) -> None:
        self.capacity = capacity
        self.password = password
        self.library: dict[int, bytes] = {}
        self.finger: str | None = None
        # Finger state at each coming capture (then ``finger`` again): a person
        # placing, lifting and placing a finger during enrollment.
        self.script: list[str | None] = []
        self.smudged = False
        self.silent = False
        self.corrupt_next = False
        self._image: str | None = None
        self._buffers: dict[int, bytes | None] = {1: None, 2: None}
        self._out = bytearray()
        self._in = bytearray()
        self._download: tuple[int, bytearray] | None = None

    # -- the finger --------------------------------------------------------

    def place(self, finger: str) -> None:
        self.finger = finger

    def lift(self) -> None:
        self.finger = None

    # -- transport ---------------------------------------------------------

    def write(self, data: bytes, /) -> int:
        if self.silent:
            return len(data)  # unplugged: the bytes go nowhere
        self._in += data
        while self._take_packet():
            pass
        return len(data)

    def reset_input_buffer(self) -> None:
        self._out.clear()

    def read(self, size: int = 1) -> bytes:
        if self.silent:
            return b""
        chunk = bytes(self._out[:size])
        del self._out[:size]
        return chunk

    def _take_packet(self) -> bool:
        if len(self._in) < 9:
            return False
        if bytes(self._in[:2]) != HEADER:
            self._in.clear()
            self._reply(0x01)
            return False
        _, pid, length = struct.unpack(">IBH", bytes(self._in[2:9]))
        if len(self._in) < 9 + length:
            return False
        payload = bytes(self._in[9 : 9 + length - 2])
        (got,) = struct.unpack(">H", bytes(self._in[7 + length : 9 + length]))
        del self._in[: 9 + length]
        if got != checksum(pid, payload):
            self._reply(0x01)
        elif pid in (PID_DATA, PID_END):
            self._receive_data(pid, payload)
        elif pid == PID_COMMAND and payload:
            self._execute(payload[0], payload[1:])
        else:
            self._reply(0x01)
        return True

    # -- replies -------------------------------------------------------------

    def _send(self, pid: int, payload: bytes) -> None:
        packet = bytearray(encode_packet(pid, payload, DEFAULT_ADDRESS))
        if self.corrupt_next:
            packet[-1] ^= 0xFF
            self.corrupt_next = False
        self._out += packet

    def _reply(self, code: int, extra: bytes = b"") -> None:
        self._send(PID_ACK, bytes([code]) + extra)

    # -- commands --------------------------------------------------------------

    def _execute(self, instruction: int, params: bytes) -> None:
        handler = {
            VERIFY_PASSWORD: self._verify,
            GEN_IMG: self._gen_img,
            IMG2TZ: self._img2tz,
            REG_MODEL: self._reg_model,
            STORE: self._store,
            LOAD_CHAR: self._load,
            SEARCH: self._search,
            DELETE_CHAR: self._delete,
            EMPTY: self._empty,
            TEMPLATE_COUNT: self._count,
            UP_CHAR: self._up_char,
            DOWN_CHAR: self._down_char,
        }.get(instruction)
        if handler is None:
            self._reply(0x01)
            return
        handler(params)

    def _verify(self, params: bytes) -> None:
        ok = len(params) == 4 and struct.unpack(">I", params)[0] == self.password
        self._reply(0x00 if ok else 0x13)

    def _gen_img(self, _params: bytes) -> None:
        if self.script:
            self.finger = self.script.pop(0)
        if self.finger is None:
            self._reply(0x02)
            return
        self._image = None if self.smudged else self.finger
        self._reply(0x00)

    def _img2tz(self, params: bytes) -> None:
        if not params or params[0] not in (1, 2):
            self._reply(0x01)
            return
        if self._image is None:
            self._reply(0x06 if self.smudged else 0x15)
            return
        self._buffers[params[0]] = template_of(self._image)
        self._reply(0x00)

    def _reg_model(self, _params: bytes) -> None:
        a, b = self._buffers[1], self._buffers[2]
        if a is None or b is None or a != b:
            self._reply(0x0A)
            return
        self._reply(0x00)

    def _slot(self, params: bytes) -> tuple[int, int] | None:
        if len(params) != 3 or params[0] not in (1, 2):
            return None
        buffer, slot = struct.unpack(">BH", params)
        return buffer, slot

    def _store(self, params: bytes) -> None:
        where = self._slot(params)
        if where is None or where[1] >= self.capacity:
            self._reply(0x0B)
            return
        data = self._buffers[where[0]]
        if data is None:
            self._reply(0x0C)
            return
        self.library[where[1]] = data
        self._reply(0x00)

    def _load(self, params: bytes) -> None:
        where = self._slot(params)
        if where is None or where[1] not in self.library:
            self._reply(0x0C)
            return
        self._buffers[where[0]] = self.library[where[1]]
        self._reply(0x00)

    def _search(self, params: bytes) -> None:
        if len(params) != 5:
            self._reply(0x01)
            return
        buffer, start, count = struct.unpack(">BHH", params)
        probe = self._buffers.get(buffer)
        for slot in sorted(self.library):
            if start <= slot < start + count and self.library[slot] == probe:
                self._reply(0x00, struct.pack(">HH", slot, 180))
                return
        self._reply(0x09)

    def _delete(self, params: bytes) -> None:
        if len(params) != 4:
            self._reply(0x01)
            return
        slot, count = struct.unpack(">HH", params)
        for s in range(slot, slot + count):
            self.library.pop(s, None)
        self._reply(0x00)

    def _empty(self, _params: bytes) -> None:
        self.library.clear()
        self._reply(0x00)

    def _count(self, _params: bytes) -> None:
        self._reply(0x00, struct.pack(">H", len(self.library)))

    def _up_char(self, params: bytes) -> None:
        data = self._buffers.get(params[0]) if params else None
        if data is None:
            self._reply(0x0D)
            return
        self._reply(0x00)
        chunks = [data[i : i + MAX_DATA] for i in range(0, len(data), MAX_DATA)]
        for i, chunk in enumerate(chunks):
            self._send(PID_END if i == len(chunks) - 1 else PID_DATA, chunk)

    def _down_char(self, params: bytes) -> None:
        if not params or params[0] not in (1, 2):
            self._reply(0x01)
            return
        self._download = (params[0], bytearray())
        self._reply(0x00)

    def _receive_data(self, pid: int, payload: bytes) -> None:
        if self._download is None:
            return  # data nobody asked for: a real module ignores it too
        buffer, data = self._download
        data += payload
        if pid == PID_END:
            self._buffers[buffer] = bytes(data) if data.startswith(_MAGIC) else None
            self._download = None


class PtyBridge:
    """Serves a :class:`FakeFingerprintModule` on a pseudo-terminal (POSIX).

    The kiosk, ``hadir fingerprint`` and ``hadir fingerprint-enroll`` then
    reach it through the real serial path (pyserial on a tty) exactly as they
    reach a module on ``/dev/ttyUSB0``::

        with PtyBridge(fake) as port:  # e.g. "/dev/pts/5"
            ...

    A thread copies bytes between the terminal and the fake. Test hooks on the
    fake (``place``, ``lift``, ``script``...) may be used from any thread.
    """

    def __init__(self, fake: FakeFingerprintModule) -> None:
        self.fake = fake
        self.path = ""
        self._master = -1
        self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> str:
        self._master, self._slave = os.openpty()
        try:
            tty.setraw(self._slave)  # no echo, no line editing: bytes as sent
            self.path = os.ttyname(self._slave)
            self._thread = threading.Thread(target=self._run, name="fake-fingerprint", daemon=True)
            self._thread.start()
        except BaseException:
            self._close()
            raise
        return self.path

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            if self._thread.is_alive():
                return  # never close descriptors a running thread still uses
        self._close()

    def _close(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.02)
            if not ready:
                continue
            self.fake.write(os.read(self._master, 4096))
            reply = memoryview(self.fake.read(1 << 16))
            while reply and not self._stop.is_set():
                _, writable, _ = select.select([], [self._master], [], 0.02)
                if writable:
                    reply = reply[os.write(self._master, reply) :]
