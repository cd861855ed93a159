"""Driver for the common UART fingerprint modules (R307, R503, AS608, ZFM-20).

These modules keep the fingerprint library themselves: the host asks them to
capture an image, turn it into a feature file in a char buffer, combine two
into a template, store it in a numbered slot, or search the library, and maps
slots to employees itself. Templates can be read out and written back, so a
template enrolled on one module can be copied to another through the server.

The protocol (57600 baud, 8N1), one packet each way per command::

    EF 01 | address (4) | packet id (1) | length (2) | payload | checksum (2)

``length`` counts the payload and the checksum; the checksum is the 16-bit
sum of packet id, length bytes and payload. Packet ids: 0x01 command, 0x02
data (more follows), 0x07 acknowledgement (first payload byte: confirmation
code), 0x08 last data packet. All integers are big-endian.

The transport is anything with ``read(n)`` and ``write(data)`` (a pyserial
``Serial`` from :func:`open_serial`, or
:class:`recognition.fingerprint_fake.FakeFingerprintModule` in tests and the
demo). A short read is a timeout: the module is unplugged or asleep.
Fingerprint images and templates are biometric data: never logged.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger(__name__)

HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
PID_COMMAND = 0x01
PID_DATA = 0x02
PID_ACK = 0x07
PID_END = 0x08
#: Largest payload a module sends in one data packet (the modules' default).
MAX_DATA = 128

# Instruction codes.
GEN_IMG = 0x01
IMG2TZ = 0x02
SEARCH = 0x04
REG_MODEL = 0x05
STORE = 0x06
LOAD_CHAR = 0x07
UP_CHAR = 0x08
DOWN_CHAR = 0x09
DELETE_CHAR = 0x0C
EMPTY = 0x0D
VERIFY_PASSWORD = 0x13
TEMPLATE_COUNT = 0x1D

OK = 0x00
NO_FINGER = 0x02
NOT_FOUND = 0x09

#: Confirmation codes of the modules' datasheets, in plain words.
CONFIRMATION: dict[int, str] = {
    0x00: "ok",
    0x01: "the module could not read the command packet",
    0x02: "no finger on the sensor",
    0x03: "the finger image could not be taken",
    0x06: "the finger image is too blurred or smudged",
    0x07: "the finger image has too few features",
    0x08: "the fingerprints do not match",
    0x09: "no matching fingerprint in the library",
    0x0A: "the two captures are not of the same finger",
    0x0B: "slot number outside the library",
    0x0C: "the template in that slot cannot be read",
    0x0D: "the template could not be sent",
    0x0E: "the module could not receive the data packets",
    0x0F: "the image could not be sent",
    0x10: "the template could not be deleted",
    0x11: "the library could not be cleared",
    0x13: "wrong module password",
    0x15: "no valid image in the buffer",
    0x18: "the module's flash memory could not be written",
    0x1A: "invalid register",
}


class FingerprintError(RuntimeError):
    """The module failed, answered something unreadable, or did not answer."""


class ModuleRefusedError(FingerprintError):
    """The module answered with a non-zero confirmation code."""

    def __init__(self, instruction: int, code: int) -> None:
        self.instruction = instruction
        self.code = code
        text = CONFIRMATION.get(code, f"unknown confirmation code 0x{code:02x}")
        super().__init__(f"fingerprint module: {text} (instruction 0x{instruction:02x})")


class EnrollmentCancelledError(FingerprintError):
    """The enrollment was stopped by the host (the admin left the screen)."""

    def __init__(self) -> None:
        super().__init__("fingerprint enrollment cancelled")


#: What the person at the sensor is asked to do next during :meth:`FingerprintModule.enroll`.
EnrollStep = Literal["place", "lift", "place_again", "smudged", "storing"]

#: Poor images tolerated per capture before enrollment gives up.
ENROLL_IMAGE_RETRIES = 3
#: How long enrollment waits for a finger to be placed or lifted.
ENROLL_WAIT_SECONDS = 20.0
#: Pause between two captures while waiting (the module answers "no finger" at once).
CAPTURE_PAUSE_SECONDS = 0.05


class Transport(Protocol):
    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def reset_input_buffer(self) -> None:
        """Drop bytes received but not read (a late reply after a timeout)."""


@dataclass(frozen=True)
class Packet:
    address: int
    pid: int
    payload: bytes


@dataclass(frozen=True)
class SearchHit:
    slot: int
    score: int


def checksum(pid: int, payload: bytes) -> int:
    length = len(payload) + 2
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def encode_packet(pid: int, payload: bytes, address: int = DEFAULT_ADDRESS) -> bytes:
    if not 0 <= address <= 0xFFFFFFFF:
        raise ValueError(f"address must fit in 4 bytes, got {address!r}")
    if len(payload) > 0xFFFF - 2:
        raise ValueError(f"payload of {len(payload)} bytes does not fit in one packet")
    return (
        HEADER
        + struct.pack(">IBH", address, pid, len(payload) + 2)
        + payload
        + struct.pack(">H", checksum(pid, payload))
    )


def read_packet(transport: Transport) -> Packet:
    """One packet from ``transport``; FingerprintError if it is cut short or corrupt."""
    head = _read_exact(transport, 9)
    if head[:2] != HEADER:
        raise FingerprintError(
            f"fingerprint module: reply does not start with EF 01 (got {head[:2].hex(' ')}); "
            "wrong baud rate or not a fingerprint module"
        )
    address, pid, length = struct.unpack(">IBH", head[2:])
    if length < 2:
        raise FingerprintError(f"fingerprint module: packet length {length} is too short")
    body = _read_exact(transport, length)
    payload, (got,) = body[:-2], struct.unpack(">H", body[-2:])
    if got != checksum(pid, payload):
        raise FingerprintError("fingerprint module: reply checksum does not match (line noise?)")
    return Packet(address, pid, payload)


def _read_exact(transport: Transport, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = transport.read(n - len(data))
        if not chunk:
            raise FingerprintError(
                f"fingerprint module did not answer (got {len(data)} of {n} bytes): "
                "is it connected and powered?"
            )
        data += chunk
    return data


class FingerprintModule:
    """Commands of one module. Not thread-safe: one owner thread talks to it."""

    def __init__(
        self, transport: Transport, *, address: int = DEFAULT_ADDRESS, password: int = 0
    ) -> None:
        self.transport = transport
        self.address = address
        self.password = password

    # -- plumbing ---------------------------------------------------------

    def _command(self, instruction: int, params: bytes = b"") -> tuple[int, bytes]:
        # A reply that arrived after an earlier timeout would be taken for this
        # command's answer: drop it first.
        self.transport.reset_input_buffer()
        self.transport.write(
            encode_packet(PID_COMMAND, bytes([instruction]) + params, self.address)
        )
        reply = read_packet(self.transport)
        if reply.pid != PID_ACK or not reply.payload:
            raise FingerprintError(
                f"fingerprint module: expected an acknowledgement, got packet id 0x{reply.pid:02x}"
            )
        return reply.payload[0], reply.payload[1:]

    def _expect_ok(self, instruction: int, params: bytes = b"") -> bytes:
        code, rest = self._command(instruction, params)
        if code != OK:
            raise ModuleRefusedError(instruction, code)
        return rest

    # -- commands ---------------------------------------------------------

    def verify_password(self) -> None:
        self._expect_ok(VERIFY_PASSWORD, struct.pack(">I", self.password))

    def capture(self) -> bool:
        """Take an image; False when no finger is on the sensor."""
        code, _ = self._command(GEN_IMG)
        if code == NO_FINGER:
            return False
        if code != OK:
            raise ModuleRefusedError(GEN_IMG, code)
        return True

    def image_to_buffer(self, buffer: int) -> None:
        self._expect_ok(IMG2TZ, bytes([_buffer(buffer)]))

    def create_model(self) -> None:
        """Combine char buffers 1 and 2 into a template (in both buffers)."""
        self._expect_ok(REG_MODEL)

    def store(self, slot: int, buffer: int = 1) -> None:
        self._expect_ok(STORE, struct.pack(">BH", _buffer(buffer), _slot(slot)))

    def load(self, slot: int, buffer: int = 1) -> None:
        self._expect_ok(LOAD_CHAR, struct.pack(">BH", _buffer(buffer), _slot(slot)))

    def search(self, buffer: int = 1, start: int = 0, count: int = 1000) -> SearchHit | None:
        code, rest = self._command(SEARCH, struct.pack(">BHH", _buffer(buffer), start, count))
        if code == NOT_FOUND:
            return None
        if code != OK:
            raise ModuleRefusedError(SEARCH, code)
        if len(rest) < 4:
            raise FingerprintError("fingerprint module: search answer is too short")
        slot, score = struct.unpack(">HH", rest[:4])
        return SearchHit(slot, score)

    def delete(self, slot: int, count: int = 1) -> None:
        self._expect_ok(DELETE_CHAR, struct.pack(">HH", _slot(slot), count))

    def clear(self) -> None:
        self._expect_ok(EMPTY)

    def template_count(self) -> int:
        rest = self._expect_ok(TEMPLATE_COUNT)
        if len(rest) < 2:
            raise FingerprintError("fingerprint module: template count answer is too short")
        return int(struct.unpack(">H", rest[:2])[0])

    def upload_template(self, buffer: int = 1) -> bytes:
        """The template in ``buffer``, read out of the module (data packets until the end one)."""
        self._expect_ok(UP_CHAR, bytes([_buffer(buffer)]))
        data = b""
        while True:
            packet = read_packet(self.transport)
            if packet.pid not in (PID_DATA, PID_END):
                raise FingerprintError(
                    f"fingerprint module: expected template data, got packet id 0x{packet.pid:02x}"
                )
            data += packet.payload
            if packet.pid == PID_END:
                return data

    def download_template(self, data: bytes, buffer: int = 1) -> None:
        """Write a template (read from another module) into ``buffer``."""
        if not data:
            raise ValueError("an empty template cannot be written to the module")
        self._expect_ok(DOWN_CHAR, bytes([_buffer(buffer)]))
        chunks = [data[i : i + MAX_DATA] for i in range(0, len(data), MAX_DATA)]
        for i, chunk in enumerate(chunks):
            pid = PID_END if i == len(chunks) - 1 else PID_DATA
            self.transport.write(encode_packet(pid, chunk, self.address))

    # -- what the kiosk does ----------------------------------------------

    def identify(self, library_size: int = 1000) -> SearchHit | None:
        """A finger on the sensor searched in the library: the hit, or None when
        no finger is present or it matches no slot."""
        if not self.capture():
            return None
        self.image_to_buffer(1)
        return self.search(1, 0, library_size)

    def enroll(
        self,
        slot: int,
        wait_seconds: float = ENROLL_WAIT_SECONDS,
        *,
        on_step: Callable[[EnrollStep], None] | None = None,
        check_first: Callable[[], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        """Two captures of one finger (lifted in between) combined and stored in ``slot``.

        ``on_step`` hears what the person should do next; ``check_first`` runs
        once the first image is in char buffer 1 (a duplicate search, which may
        raise to refuse the finger); ``cancelled`` is polled between captures
        and stops the enrollment with :class:`EnrollmentCancelledError`. A smudged
        image asks for the finger again, up to ``ENROLL_IMAGE_RETRIES`` times.
        Each wait (finger down, finger lifted) gives up after ``wait_seconds``:
        a time, not a number of captures, because a module takes anything from
        a few to a few hundred milliseconds per capture.
        """
        step = on_step or (lambda _step: None)
        stop = cancelled or (lambda: False)
        for buffer in (1, 2):
            step("place" if buffer == 1 else "place_again")
            for retry in range(ENROLL_IMAGE_RETRIES + 1):
                self._wait_for(True, wait_seconds, stop)
                try:
                    self.image_to_buffer(buffer)
                    break
                except ModuleRefusedError:
                    if retry == ENROLL_IMAGE_RETRIES:
                        raise
                    step("smudged")
                    self._wait_for(False, wait_seconds, stop)
            if buffer == 1:
                if check_first is not None:
                    check_first()
                step("lift")
                self._wait_for(False, wait_seconds, stop)
        step("storing")
        self.create_model()
        self.store(slot, 1)

    def _wait_for(self, finger: bool, seconds: float, cancelled: Callable[[], bool]) -> None:
        """Capture until a finger is (``finger``) or is no longer on the sensor."""
        deadline = time.monotonic() + seconds
        while True:
            if cancelled():
                raise EnrollmentCancelledError()
            if self.capture() == finger:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(CAPTURE_PAUSE_SECONDS)
        raise FingerprintError(
            "no finger was placed on the sensor"
            if finger
            else "the finger was not lifted between the two captures"
        )


def _buffer(buffer: int) -> int:
    if buffer not in (1, 2):
        raise ValueError(f"char buffer must be 1 or 2, got {buffer!r}")
    return buffer


def _slot(slot: int) -> int:
    if not 0 <= slot <= 0xFFFF:
        raise ValueError(f"slot must be 0-65535, got {slot!r}")
    return slot


def open_serial(port: str, baudrate: int = 57600, timeout: float = 1.0) -> Transport:
    """A pyserial port for a module; FingerprintError naming the port if it cannot open."""
    import serial

    try:
        return serial.Serial(port, baudrate=baudrate, timeout=timeout)
    except (serial.SerialException, ValueError) as exc:
        raise FingerprintError(f"cannot open fingerprint sensor port {port}: {exc}") from None


def check_module(module: FingerprintModule, identify: bool = False) -> dict[str, object]:
    """What ``hadir fingerprint PORT`` reports: the password is accepted, how many
    templates the library holds, and (with ``identify``) the slot of the finger
    on the sensor now."""
    module.verify_password()
    out: dict[str, object] = {"templates": module.template_count()}
    if identify:
        hit = module.identify()
        out["finger"] = "none or not enrolled" if hit is None else f"slot {hit.slot}"
        if hit is not None:
            out["score"] = hit.score
    return out
