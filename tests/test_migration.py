"""Migration from dlib's model to face-reidentification-retail-0095 without re-enrolling.

End to end on the kiosk side with a real clip: a kiosk still matching with
dlib (templates of dlib only, as in the field) recognises a woman who passes
a head-turn challenge; the punch adds a template of the new model for her
(sealed, audit-logged, queued for upload); ``hadir templates status`` counts
her; after the switch the new model's gallery, loaded from the store,
recognises her on other frames of the clip; ``hadir templates drop`` removes
the old model's templates.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from attendance.store import EmployeeRecord, Store
from hadir.cli import main
from kiosk.engine import EngineRecognizer
from kiosk.migration import MigratedTemplates
from kiosk.services import GalleryLoader
from recognition.config import LivenessSection, MatchSection, MigrationSection
from recognition.embedding import ReidEmbedder
from recognition.faces import FaceEngine, FaceModels, YuNetDetector
from recognition.gallery import Gallery, GalleryHolder
from recognition.images import to_rgb
from recognition.migration import TemplateMigrator
from recognition.modelinfo import DLIB_NAME, DLIB_VERSION, REID_NAME, REID_VERSION

NIP = "198703152010011002"
OTHER = "199001012015022001"
FPS = 12.0
DLIB_MATCH = MatchSection(
    threshold=0.50,
    review_threshold=0.58,
    min_margin=0.02,
    max_cohort_ratio=0.74,
    max_runner_up_ratio=0.80,
)


def _frames(clip: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    assert frames, clip
    return frames


def test_eligibility_needs_a_clear_match_and_passed_liveness() -> None:
    migrator = TemplateMigrator(
        ReidEmbedder(), MigrationSection(target_model=REID_NAME, max_distance=0.40, max_templates=3)
    )
    assert migrator.eligible(0.35, "passed:passive:0.91")
    assert migrator.eligible(0.40, "passed:turn_left:0.80")
    assert not migrator.eligible(0.45, "passed:passive:0.91")  # a match, but not clear
    assert not migrator.eligible(0.30, "unproven:passive:0.40")  # liveness not proven
    assert not migrator.eligible(0.30, None)
    assert not migrator.eligible(None, "passed:passive:0.9")
    with pytest.raises(ValueError, match="max_templates"):
        MigrationSection(target_model=REID_NAME, max_distance=0.4, max_templates=0)


def test_a_dlib_punch_teaches_the_new_model_end_to_end(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = _frames(shared_data / "video" / "head-pose-face-detection-female.mp4")
    old = FaceEngine(YuNetDetector(), FaceModels(with_68=True, model=DLIB_NAME))
    data = tmp_path / "data"
    store = Store.open(data, device_id="kiosk-01")
    try:
        store.employees.upsert_many(
            [
                EmployeeRecord(NIP, "Siti Aminah", "DISKOMINFO", "PNS"),
                EmployeeRecord(OTHER, "Budi Santoso", "DISKOMINFO", "PNS"),
            ]
        )
        # The field kiosk: dlib templates only (from the clip's last frames).
        for bgr in frames[-8:]:
            r = old.analyze(to_rgb(bgr))
            if r.embedding is not None:
                store.templates.add(NIP, r.embedding, DLIB_NAME, DLIB_VERSION, uploaded=True)
        assert store.templates.count_of_model(NIP, DLIB_NAME) > 0
        holder = GalleryHolder()
        loader = GalleryLoader(store, holder, "DISKOMINFO", model=(DLIB_NAME, DLIB_VERSION))
        loader.reload()
        liveness = LivenessSection(
            challenge="always", challenges=("turn_left",), timeout_seconds=6.0
        )
        recognizer = EngineRecognizer(old, holder, DLIB_MATCH, liveness, rng=random.Random(1))
        recognizer.migrator = TemplateMigrator(
            ReidEmbedder(),
            MigrationSection(target_model=REID_NAME, max_distance=0.40, max_templates=3),
        )
        sink = MigratedTemplates(store, (REID_NAME, REID_VERSION), max_templates=3)
        recognizer.on_migrate = sink.add
        for i in range(int(8 * FPS)):
            analysis = recognizer.analyse(frames[i % len(frames)], i / FPS)
            if analysis.decision != "pending":
                break
        assert analysis.decision == "match" and analysis.nip == NIP, analysis
        assert analysis.liveness is not None and analysis.liveness.startswith("passed:")
        assert analysis.distance is not None and analysis.distance <= 0.40
        # The punch added one template of the new model, sealed and queued for upload.
        assert sink.added == 1
        infos = [i for i in store.templates.info(NIP) if i.model == REID_NAME]
        assert len(infos) == 1 and infos[0].model_version == REID_VERSION
        assert infos[0].source == "kiosk" and infos[0].uploaded_at is None
        assert any(
            i.template_id == infos[0].template_id for i, _ in store.templates.pending_upload()
        )
        audit = store.audit.recent()
        assert audit[0]["action"] == "template_migrated" and audit[0]["target"] == NIP
        assert "model=face-reidentification-retail-0095" in audit[0]["detail"]
        # A second punch of the same track adds nothing; the cap holds per person.
        recognizer.analyse(frames[0], 9.0)
        assert sink.added == 1
        learnt = next(v for i, v in store.templates.for_person(NIP) if i.model == REID_NAME)
        assert learnt.shape == (256,)
        assert [sink.add(NIP, learnt, 0.5) for _ in range(3)] == [True, True, False]
        assert store.templates.count_of_model(NIP, REID_NAME) == 3
    finally:
        store.close()

    # hadir templates status: per OPD, people with templates of each model.
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[device]\ndata_dir = "{data}"\n', encoding="utf-8")
    monkeypatch.setenv("HADIR_CONFIG", str(cfg))
    import sys
    from io import StringIO

    out = StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["templates", "status", "--json"]) == 0
    status = json.loads(out.getvalue())
    assert status["opds"]["DISKOMINFO"] == {"people": 2, DLIB_NAME: 1, REID_NAME: 1}

    # After the switch: the new model's gallery from the store knows her.
    store = Store.open(data, device_id="kiosk-01")
    try:
        holder = GalleryHolder()
        loader = GalleryLoader(
            store, holder, "DISKOMINFO", model=(REID_NAME, REID_VERSION), mean_templates=True
        )
        assert loader.reload() == 3
        new = FaceEngine(YuNetDetector(), FaceModels())
        probes = [new.analyze(to_rgb(f)) for f in frames[: len(frames) // 2 : 3]]
        vectors = [p.embedding for p in probes if p.embedding is not None]
        assert vectors
        for vector in vectors:
            hit = holder.search(vector)
            assert hit is not None and hit.person_id == NIP
            assert hit.distance <= MatchSection().threshold, hit.distance
    finally:
        store.close()

    # The old model's templates go; the configured (new) model's cannot.
    out.truncate(0)
    out.seek(0)
    assert main(["templates", "drop", "--model", DLIB_NAME, "--json"]) == 0
    assert json.loads(out.getvalue())["deleted"] > 0
    assert main(["templates", "drop", "--model", REID_NAME]) == 2
    store = Store.open(data, device_id="kiosk-01")
    try:
        assert store.templates.count_of_model(NIP, DLIB_NAME) == 0
        assert store.templates.count_of_model(NIP, REID_NAME) == 3
        assert store.audit.recent()[0]["action"] == "templates_dropped"
    finally:
        store.close()


def test_gallery_of_one_model_ignores_the_others_templates(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    with Store.open(tmp_path / "d", device_id="kiosk-01") as store:
        store.employees.upsert(EmployeeRecord(NIP, "Siti Aminah", "DISKOMINFO", "PNS"))
        store.templates.add(NIP, rng.normal(0, 0.1, 128).astype(np.float32))
        holder = GalleryHolder()
        loader = GalleryLoader(store, holder, "DISKOMINFO", model=(REID_NAME, REID_VERSION))
        assert loader.reload() == 0
        assert holder.gallery.dim == 256 and holder.gallery.model_name == REID_NAME
        assert isinstance(holder.gallery, Gallery)
