"""``hadir lookalikes``: enrolled people a kiosk may take for each other, on real faces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attendance.store import EmployeeRecord, Store
from hadir.cli import main

# Yale's subject04, 06 and 14 are three different men whom dlib put 0.46-0.48
# apart (as close as two photos of one person). face-reidentification-retail-0095
# puts them 1.17-1.26 apart, beyond its match threshold (0.94).
PEOPLE = {
    "199001012015031001": "subject01",
    "199001012015031002": "subject02",
    "199001012015031004": "subject04",
    "199001012015031006": "subject06",
    "199001012015031014": "subject14",
}


@pytest.mark.slow
def test_the_look_alikes_of_the_gallery_are_listed_by_name(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recognition.faces import FaceEngine, FaceModels, make_detector
    from recognition.images import load_image

    engine = FaceEngine(make_detector("yunet", "", 320, 0, 0.7), FaceModels())
    data = tmp_path / "kiosk"
    with Store.open(data, device_id="kiosk-07") as store:
        for nip, subject in PEOPLE.items():
            store.employees.upsert(
                EmployeeRecord(nip, f"Pegawai {subject[-2:]}", "DISKOMINFO", "PNS")
            )
            for condition in ("normal", "happy", "noglasses"):
                image = load_image(shared_data / "faces" / "yale" / subject / f"{condition}.png")
                result = engine.analyze(image)
                embedding = result.embedding
                assert embedding is not None, (subject, condition, result.code)
                store.templates.add(nip, embedding)
        # Someone of another OPD (the last face again) is not in this kiosk's gallery.
        store.employees.upsert(EmployeeRecord("199001012015031099", "Tamu", "DINKES", "PNS"))
        assert embedding is not None
        store.templates.add("199001012015031099", embedding)

    # At the match threshold (the default) nobody is near anybody else.
    assert main(["lookalikes", "--data-dir", str(data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["templates"], out["people"], out["max_distance"]) == (15, 5, 0.94)
    assert out["pairs"] == []
    assert main(["lookalikes", "--data-dir", str(data)]) == 0
    assert "no two people closer than 0.94" in capsys.readouterr().out
    # Wider: the closest different people are dlib's look-alikes, far beyond 0.94.
    assert main(["lookalikes", "--data-dir", str(data), "--max-distance", "1.2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    pairs = {(p["a"][-2:], p["b"][-2:]): p["distance"] for p in out["pairs"]}
    assert set(pairs) == {("04", "14"), ("06", "14")}
    assert all(1.1 < d <= 1.2 for d in pairs.values())
    assert {p["a_name"] for p in out["pairs"]} == {"Pegawai 04", "Pegawai 06"}
    assert main(["lookalikes", "--data-dir", str(data), "--max-distance", "1.2"]) == 0
    text = capsys.readouterr().out
    assert "2 pairs of people closer than 1.2" in text
    assert "199001012015031004 Pegawai 04  ~  199001012015031014 Pegawai 14" in text
    # The audit log keeps each run (never the templates).
    with Store.open(data, device_id="kiosk-07") as store:
        assert [e["detail"] for e in store.audit.recent(4)] == [
            "pairs=2 max=1.2",
            "pairs=2 max=1.2",
            "pairs=0 max=0.94",
            "pairs=0 max=0.94",
        ]
    assert main(["lookalikes", "--data-dir", str(data), "--max-distance", "7"]) == 2
    assert "between 0 and 2" in capsys.readouterr().err


def test_an_empty_gallery_has_no_look_alikes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "kiosk"
    Store.open(data, device_id="kiosk-07").close()
    assert main(["lookalikes", "--data-dir", str(data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["templates"], out["people"], out["pairs"]) == (0, 0, [])
