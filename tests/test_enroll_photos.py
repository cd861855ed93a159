"""``hadir enroll NIP PHOTO...``: enrollment from ID photos, one report line per file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from attendance.store import EmployeeRecord, Store
from hadir.cli import main
from recognition.modelinfo import REID_NAME, REID_VERSION

NIP_A = "198703152010011002"
NIP_B = "199001012015022001"
GHOST = "197001012000011001"


@pytest.fixture
def photos(shared_data: Path, tmp_path: Path) -> dict[str, Path]:
    yale = shared_data / "faces" / "yale"
    out = tmp_path / "photos"
    out.mkdir()
    paths: dict[str, Path] = {}
    for name, (subject, condition) in {
        "a1": ("subject01", "normal"),
        "a2": ("subject01", "happy"),
        "b1": ("subject02", "normal"),
        "b2": ("subject02", "sad"),
    }.items():
        paths[name] = out / f"{name}.png"
        paths[name].write_bytes((yale / subject / f"{condition}.png").read_bytes())
    a = cv2.imread(str(paths["a1"]))
    b = cv2.imread(str(paths["b1"]))
    assert a is not None and b is not None
    paths["two"] = out / "two.png"
    cv2.imwrite(str(paths["two"]), np.hstack([a, b]))
    paths["tiny"] = out / "tiny.png"
    cv2.imwrite(str(paths["tiny"]), cv2.resize(a, (a.shape[1] // 5, a.shape[0] // 5)))
    paths["blank"] = out / "blank.png"
    cv2.imwrite(str(paths["blank"]), np.full((240, 320, 3), 128, np.uint8))
    return paths


def test_enroll_reports_each_file_and_stores_the_good_ones(
    photos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "kiosk"
    with Store.open(data, device_id="kiosk-01") as store:
        store.employees.upsert(EmployeeRecord(NIP_A, "Siti Aminah", "DISKOMINFO", "PNS"))
        store.employees.upsert(EmployeeRecord(NIP_B, "Budi Santoso", "DISKOMINFO", "PNS"))
    base = ["enroll", "--data-dir", str(data)]
    assert main([*base, NIP_B, str(photos["b1"]), "--consent", "form 12/2026"]) == 0
    capsys.readouterr()

    files = [photos[k] for k in ("a1", "a2", "b2", "two", "tiny", "blank")]
    code = main([*base, NIP_A, *map(str, files), "--consent", "form 13/2026"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "a1.png: enrolled"
    assert lines[1] == "a2.png: enrolled"
    assert lines[2].startswith(f"b2.png: duplicate of NIP {NIP_B} (")
    assert lines[3] == "two.png: two faces"
    assert lines[4] == "tiny.png: too small"
    assert lines[5] == "blank.png: no face"
    assert lines[6] == "2 of 6 photos enrolled"

    with Store.open(data, device_id="kiosk-01") as store:
        infos = store.templates.info(NIP_A)
        assert len(infos) == 2
        assert {(i.model, i.model_version, i.source) for i in infos} == {
            (REID_NAME, REID_VERSION, "kiosk")
        }
        assert all(i.uploaded_at is None for i in infos)  # queued for the server
        entry = store.audit.recent(1)[0]
        assert (entry["action"], entry["target"]) == ("enroll", NIP_A)
        assert entry["detail"] == "photos: 2 samples; consent: form 13/2026"

    # A NIP that is not in the roster: every file says so, nothing is stored.
    assert main([*base, GHOST, str(photos["a1"]), "--consent", "x", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["enrolled"] == 0
    assert out["files"][0]["outcome"] == f"unknown NIP {GHOST}"
    # Consent is required.
    with pytest.raises(SystemExit):
        main([*base, NIP_A, str(photos["a1"])])


def test_enroll_photos_takes_a_folder_named_by_nip(
    photos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "kiosk"
    with Store.open(data, device_id="kiosk-01") as store:
        store.employees.upsert(EmployeeRecord(NIP_A, "Siti Aminah", "DISKOMINFO", "PNS"))
        store.employees.upsert(EmployeeRecord(NIP_B, "Budi Santoso", "DISKOMINFO", "PNS"))
    folder = tmp_path / "opd"
    folder.mkdir()
    for name, target in (
        (f"{NIP_A}.png", "a1"),
        (f"{NIP_A}_2.png", "a2"),
        (f"{NIP_B}.png", "a1"),  # A's face filed under B: a duplicate of A
        (f"{GHOST}.png", "b1"),
        ("scan-17.png", "b1"),
        (f"{NIP_B}_2.png", "blank"),
    ):
        (folder / name).write_bytes(photos[target].read_bytes())
    (folder / "README.txt").write_text("not a photo", encoding="utf-8")
    base = ["enroll-photos", "--data-dir", str(data), str(folder), "--consent", "OPD letter 7"]
    assert main(base) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "scan-17.png: unknown NIP (the file name is not an 18-digit NIP)" in lines
    assert f"{NIP_A}.png: enrolled" in lines and f"{NIP_A}_2.png: enrolled" in lines
    assert any(line.startswith(f"{NIP_B}.png: duplicate of NIP {NIP_A} (") for line in lines)
    assert f"{NIP_B}_2.png: no face" in lines
    assert f"{GHOST}.png: unknown NIP {GHOST}" in lines
    assert lines[-1] == "2 of 6 photos enrolled"
    with Store.open(data, device_id="kiosk-01") as store:
        assert len(store.templates.info(NIP_A)) == 2 and store.templates.info(NIP_B) == []
        assert store.audit.recent(1)[0]["detail"] == "photos: 2 samples; consent: OPD letter 7"
