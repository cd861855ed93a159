"""The UART fingerprint module driver, against a simulated module speaking the same bytes."""

from __future__ import annotations

import struct

import pytest

from recognition.fingerprint import (
    GEN_IMG,
    PID_ACK,
    PID_COMMAND,
    FingerprintError,
    FingerprintModule,
    ModuleRefusedError,
    Packet,
    SearchHit,
    checksum,
    encode_packet,
    open_serial,
    read_packet,
)
from recognition.fingerprint_fake import TEMPLATE_BYTES, FakeFingerprintModule, template_of


class Bytes:
    """A transport over fixed bytes (what the wire delivered)."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)

    def reset_input_buffer(self) -> None:
        pass  # the fixed bytes are the reply to come, not a stale one

    def read(self, size: int = 1) -> bytes:
        chunk = bytes(self.data[:size])
        del self.data[:size]
        return chunk

    def write(self, data: bytes, /) -> int:
        return len(data)


def test_packet_layout_matches_the_datasheet() -> None:
    # GenImg as the datasheets print it: EF01 FFFFFFFF 01 0003 01 0005
    assert encode_packet(PID_COMMAND, bytes([GEN_IMG])) == bytes.fromhex("ef01ffffffff010003010005")
    assert checksum(PID_ACK, b"\x00") == 0x0A
    packet = read_packet(Bytes(encode_packet(PID_ACK, b"\x00\x01\x02", 0x12345678)))
    assert packet == Packet(0x12345678, PID_ACK, b"\x00\x01\x02")


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"", "did not answer"),
        (encode_packet(PID_ACK, b"\x00")[:7], "did not answer"),
        (b"\x55\xaa" + encode_packet(PID_ACK, b"\x00")[2:], "EF 01"),
        (encode_packet(PID_ACK, b"\x00")[:-1] + b"\x00", "checksum"),
        (bytes.fromhex("ef01ffffffff070001"), "too short"),
    ],
)
def test_bad_replies_are_clear_errors(wire: bytes, message: str) -> None:
    with pytest.raises(FingerprintError, match=message):
        read_packet(Bytes(wire))


def test_enroll_then_identify_the_same_finger_only() -> None:
    fake = FakeFingerprintModule()
    module = FingerprintModule(fake)
    module.verify_password()
    assert module.identify() is None  # no finger
    # Enrollment: not there yet, placed, lifted, placed again.
    fake.script = [None, "siti-right-index", None, "siti-right-index"]
    module.enroll(7)
    assert sorted(fake.library) == [7] and module.template_count() == 1
    fake.place("siti-right-index")
    assert module.identify() == SearchHit(7, 180)
    fake.place("budi-left-thumb")
    assert module.identify() is None


def test_module_refusals_name_the_reason() -> None:
    fake = FakeFingerprintModule(capacity=10, password=0x1234)
    module = FingerprintModule(fake)
    with pytest.raises(ModuleRefusedError, match="wrong module password") as wrong:
        module.verify_password()
    assert wrong.value.code == 0x13
    FingerprintModule(fake, password=0x1234).verify_password()
    fake.place("x")
    fake.smudged = True
    assert module.capture()
    with pytest.raises(ModuleRefusedError, match="blurred or smudged"):
        module.image_to_buffer(1)
    fake.smudged = False
    module.capture()
    module.image_to_buffer(1)
    with pytest.raises(ModuleRefusedError, match="slot number outside"):
        module.store(10)
    with pytest.raises(ModuleRefusedError, match="not of the same finger"):
        module.create_model()  # buffer 2 is empty
    with pytest.raises(ValueError, match="char buffer"):
        module.image_to_buffer(3)
    with pytest.raises(ValueError, match="slot"):
        module.store(70000)


def test_unplugged_or_noisy_module() -> None:
    fake = FakeFingerprintModule()
    module = FingerprintModule(fake)
    fake.silent = True
    with pytest.raises(FingerprintError, match="is it connected"):
        module.capture()
    fake.silent = False
    fake.corrupt_next = True
    with pytest.raises(FingerprintError, match="checksum"):
        module.template_count()
    assert module.template_count() == 0  # the next exchange is fine again
    # A finger that is never lifted between the two enrollment captures.
    fake.place("x")
    with pytest.raises(FingerprintError, match="not lifted"):
        module.enroll(1, wait_seconds=0.2)
    fake.lift()
    with pytest.raises(FingerprintError, match="no finger was placed"):
        module.enroll(1, wait_seconds=0.2)


def test_a_template_is_copied_between_two_modules() -> None:
    first, second = FakeFingerprintModule(), FakeFingerprintModule()
    a, b = FingerprintModule(first), FingerprintModule(second)
    first.place("finger-1")
    a.capture()
    a.image_to_buffer(1)
    a.image_to_buffer(2)
    a.create_model()
    a.store(3)
    a.load(3, buffer=1)
    data = a.upload_template(1)
    assert len(data) == TEMPLATE_BYTES and data == template_of("finger-1")
    b.download_template(data, buffer=1)
    b.store(42, buffer=1)
    assert second.library[42] == data
    # The copy identifies the finger on the second module.
    second.place("finger-1")
    assert b.identify() == SearchHit(42, 180)
    b.delete(42)
    assert b.template_count() == 0 and b.identify() is None
    with pytest.raises(ValueError, match="empty template"):
        b.download_template(b"")


def test_open_serial_names_the_port_it_cannot_open() -> None:
    with pytest.raises(FingerprintError, match="/dev/ttyHADIR-none"):
        open_serial("/dev/ttyHADIR-none")


def test_replies_carry_integers_big_endian() -> None:
    fake = FakeFingerprintModule()
    for slot in (1, 300, 999):
        fake.library[slot] = template_of(f"f{slot}")
    assert FingerprintModule(fake).template_count() == 3
    ack = encode_packet(PID_ACK, b"\x00" + struct.pack(">HH", 0x0102, 0x0304))
    module = FingerprintModule(Bytes(ack))
    assert module.search() == SearchHit(0x0102, 0x0304)


def test_check_module_reports_library_and_finger() -> None:
    from recognition.fingerprint import check_module

    fake = FakeFingerprintModule()
    fake.library[5] = template_of("siti")
    module = FingerprintModule(fake)
    assert check_module(module) == {"templates": 1}
    fake.place("siti")
    assert check_module(module, identify=True) == {
        "templates": 1,
        "finger": "slot 5",
        "score": 180,
    }
    fake.place("tamu")
    assert check_module(module, identify=True)["finger"] == "none or not enrolled"


def test_fingerprint_command_without_a_module_is_a_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hadir.cli import main

    assert main(["fingerprint", "/dev/ttyHADIR-none"]) == 2
    err = capsys.readouterr().err
    assert "cannot open fingerprint sensor port /dev/ttyHADIR-none" in err
    assert "Traceback" not in err
