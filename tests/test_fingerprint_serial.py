"""The fingerprint commands over a real serial line: pyserial on a pseudo-terminal
served by the simulated module (``PtyBridge``), as on /dev/ttyUSB0."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from attendance.fingerprints import FingerprintSlots
from attendance.store import EmployeeRecord, Store
from hadir.cli import main
from recognition.fingerprint_fake import FakeFingerprintModule, PtyBridge, template_of

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")

SITI = "198703152010011002"
BUDI = "199001012015022001"


def test_check_identify_and_delete_over_the_serial_line(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeFingerprintModule()
    fake.library[3] = template_of("siti-index")
    fake.library[4] = template_of("budi-thumb")
    with PtyBridge(fake) as port:
        assert main(["fingerprint", port, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out == {"port": port, "templates": 2}
        fake.place("budi-thumb")
        assert main(["fingerprint", port, "--identify", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert (out["finger"], out["score"]) == ("slot 4", 180)
        assert main(["fingerprint", port, "--delete", "3", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["deleted"] == [3]
        assert set(fake.library) == {4}
        # A wrong module password is refused by the module, not a traceback.
        assert main(["fingerprint", port, "--password", "0x1234"]) == 2
        assert "password" in capsys.readouterr().err


def test_enroll_command_over_the_serial_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "kiosk"
    with Store.open(data, device_id="kiosk-07") as store:
        store.employees.upsert_many(
            [
                EmployeeRecord(SITI, "Siti Aminah", "DISKOMINFO", "PNS"),
                EmployeeRecord(BUDI, "Budi Santoso", "DISKOMINFO", "PNS"),
            ]
        )
    fake = FakeFingerprintModule()
    with PtyBridge(fake) as port:
        fake.script = [None, "siti-index", None, "siti-index"]
        argv = ["fingerprint-enroll", SITI, "--data-dir", str(data), "--port", port]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert out.splitlines() == [
            "Letakkan satu jari di sensor",
            "Angkat jari",
            "Letakkan lagi jari yang sama",
            "Menyimpan...",
            f"finger of {SITI} enrolled in slot 0",
        ]
        assert fake.library == {0: template_of("siti-index")}
        # Siti's finger offered for Budi: refused, naming her NIP.
        fake.script = ["siti-index"]
        argv = ["fingerprint-enroll", BUDI, "--data-dir", str(data), "--port", port]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"this finger is already enrolled in slot 0 (NIP {SITI})" in err
    with Store.open(data, device_id="kiosk-07") as store:
        assert FingerprintSlots(store.state).all() == {0: SITI}
