"""The default embedding model (face-reidentification-retail-0095 through OpenCV):
alignment, loading and checksum refusal, 256-d templates kept apart from dlib's."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from attendance.store import EmployeeRecord, Store
from attendance.templates import TemplateError
from recognition.embedding import (
    REID_FILE,
    REID_REFERENCE,
    REID_SHA256,
    ReidEmbedder,
    align,
    alignment_matrix,
)
from recognition.faces import FaceEngine, FaceModels, ModelError, YuNetDetector
from recognition.gallery import Gallery, Template
from recognition.images import load_image
from recognition.modelfiles import YUNET_FILE, YUNET_SHA256, bundled_model, file_sha256
from recognition.modelinfo import DLIB_NAME, DLIB_VERSION, REID_DIM, REID_NAME, REID_VERSION

NIP = "198703152010011002"


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.hstack([rot, np.array(shift)[:, None]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points @ matrix[:, :2].T + matrix[:, 2], dtype=np.float64)


# --------------------------------------------------------------------------- alignment


@pytest.mark.parametrize("angle", [-25.0, 0.0, 12.0])
@pytest.mark.parametrize("count", [5, 2])
def test_alignment_maps_landmarks_onto_the_reference_points(angle: float, count: int) -> None:
    reference = REID_REFERENCE.astype(np.float64) * 128
    # A face somewhere in a frame: the reference layout rotated, scaled, moved.
    face = _apply(_similarity(angle, 1.7, (210.0, 95.0)), reference)[:count]
    matrix = alignment_matrix(face)
    np.testing.assert_allclose(_apply(matrix, face), reference[:count], atol=0.05)


def test_alignment_is_least_squares_over_five_noisy_points() -> None:
    rng = np.random.default_rng(3)
    reference = REID_REFERENCE.astype(np.float64) * 128
    face = _apply(_similarity(8.0, 2.0, (300.0, 120.0)), reference)
    noisy = face + rng.normal(0, 1.5, face.shape)
    mapped = _apply(alignment_matrix(noisy), noisy)
    # Every point lands near its reference (no point is dropped as an outlier).
    assert float(np.abs(mapped - reference).max()) < 4.0


def test_align_moves_marked_pixels_to_the_reference_positions() -> None:
    reference = REID_REFERENCE.astype(np.float64) * 128
    points = _apply(_similarity(-15.0, 2.5, (180.0, 60.0)), reference)
    frame = np.zeros((600, 700, 3), np.uint8)
    for x, y in points:
        cv2.circle(frame, (round(x), round(y)), 6, (255, 255, 255), -1)
    crop = align(frame, points)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    grey = crop[:, :, 0]
    for x, y in reference:
        assert grey[round(y), round(x)] > 200, (x, y)


def test_alignment_refuses_bad_landmarks() -> None:
    with pytest.raises(ValueError, match="5 or 2"):
        alignment_matrix(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="5 or 2"):
        alignment_matrix(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="coincide"):
        alignment_matrix(np.ones((2, 2)))


# --------------------------------------------------------------------------- model files


def test_shipped_model_files_match_their_pins() -> None:
    assert file_sha256(bundled_model(REID_FILE)) == REID_SHA256
    assert file_sha256(bundled_model(YUNET_FILE)) == YUNET_SHA256
    licence = bundled_model(REID_FILE).parent / "LICENSE.Apache-2.0.txt"
    assert "Apache License" in licence.read_text(encoding="utf-8")


def test_damaged_or_missing_model_file_is_refused(tmp_path: Path) -> None:
    data = bundled_model(REID_FILE).read_bytes()
    short = tmp_path / "reid.onnx"
    short.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="SHA-256 differs"):
        ReidEmbedder(short)
    with pytest.raises(ModelError, match="SHA-256 differs"):
        FaceModels(model_path=short)
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x01  # one bit: same size, other weights
    other = tmp_path / "other.onnx"
    other.write_bytes(bytes(flipped))
    assert hashlib.sha256(bytes(flipped)).hexdigest() != REID_SHA256
    with pytest.raises(ValueError, match="SHA-256 differs"):
        ReidEmbedder(other)
    with pytest.raises(ValueError, match="missing"):
        ReidEmbedder(tmp_path / "absent.onnx")
    with pytest.raises(ModelError, match="unknown face model 'facenet'"):
        FaceModels(model="facenet")


def test_embedding_of_an_aligned_crop_is_a_unit_256_vector() -> None:
    embedder = ReidEmbedder(mirror=True)
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    vec = embedder.embed_crop(crop)
    assert vec.shape == (REID_DIM,) and vec.dtype == np.float32
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
    # The mirrored average is symmetric: a crop and its mirror give one vector.
    mirrored = np.asarray(cv2.flip(crop, 1), dtype=np.uint8)
    diff = embedder.embed_crop(mirrored).astype(np.float64) - vec.astype(np.float64)
    assert float(np.abs(diff).max()) < 1e-5
    single = ReidEmbedder()  # the default: the crop alone
    assert float(np.linalg.norm(single.embed_crop(crop) - vec)) > 1e-3


# --------------------------------------------------------------------------- real faces


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine(YuNetDetector(), FaceModels())


def test_real_faces_same_person_closer_than_others(engine: FaceEngine, shared_data: Path) -> None:
    yale = shared_data / "faces" / "yale"
    paths = [
        yale / "subject01" / "normal.png",
        yale / "subject01" / "happy.png",
        yale / "subject02" / "normal.png",
        yale / "subject03" / "glasses.png",
    ]
    vecs = []
    for p in paths:
        r = engine.analyze(load_image(p), gate=False)
        assert r.embedding is not None, (p, r.code)
        assert r.embedding.shape == (REID_DIM,)
        assert abs(float(np.linalg.norm(r.embedding)) - 1.0) < 1e-5
        vecs.append(r.embedding)
    same = float(np.linalg.norm(vecs[0] - vecs[1]))
    others = [float(np.linalg.norm(vecs[0] - v)) for v in vecs[2:]]
    assert same < 0.9 < min(others), (same, others)


def test_hog_detector_aligns_on_eye_centres(shared_data: Path) -> None:
    from recognition.faces import HogDetector

    img = load_image(shared_data / "faces" / "yale" / "subject04" / "normal.png")
    models = FaceModels()
    yunet = FaceEngine(YuNetDetector(), models).analyze(img)
    hog = FaceEngine(HogDetector(), models).analyze(img)
    assert yunet.embedding is not None and hog.embedding is not None
    # Two alignments of one photo: far nearer each other than two people are.
    assert float(np.linalg.norm(yunet.embedding - hog.embedding)) < 0.7


# --------------------------------------------------------------------------- model separation


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_gallery_compares_only_templates_of_its_model() -> None:
    rng = np.random.default_rng(5)
    reid = [Template(f"p{i}", _unit(rng, 256), f"r{i}", REID_NAME, REID_VERSION) for i in range(4)]
    dlib = Template("p9", _unit(rng, 128), "d1", DLIB_NAME, DLIB_VERSION)
    gallery = Gallery.build(reid, None, REID_NAME, REID_VERSION)
    assert gallery.dim == 256 and len(gallery) == 4
    hit = gallery.search(reid[2].vector)
    assert hit is not None and hit.person_id == "p2" and hit.distance < 1e-5
    with pytest.raises(ValueError, match="comes from model 'dlib_face_recognition"):
        Gallery.build([*reid, dlib], None, REID_NAME, REID_VERSION)
    with pytest.raises(ValueError, match=r"version 'omz-2023.0'"):
        Gallery.build(reid, None, DLIB_NAME, DLIB_VERSION)
    with pytest.raises(ValueError, match=r"shape \(256,\)"):
        gallery.search(dlib.vector)
    with pytest.raises(ValueError, match=r"shape \(256,\)"):
        Template("p1", _unit(rng, 128), "x", REID_NAME, REID_VERSION)
    empty = Gallery.empty(REID_NAME, REID_VERSION)
    assert empty.dim == 256 and empty.search(reid[0].vector) is None


def test_template_bytes_of_the_256_d_model() -> None:
    rng = np.random.default_rng(6)
    t = Template("p1", _unit(rng, 256), "t1", REID_NAME, REID_VERSION)
    data = t.to_bytes()
    assert len(data) == 1024
    back = Template.from_bytes("p1", data, "t1", REID_NAME, REID_VERSION)
    np.testing.assert_array_equal(back.vector, t.vector)
    with pytest.raises(ValueError, match="expected 1024 bytes, got 512"):
        Template.from_bytes("p1", data[:512], "t1", REID_NAME, REID_VERSION)


def test_store_keeps_both_models_and_loads_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    with Store.open(tmp_path / "db", device_id="kiosk-01") as store:
        store.employees.upsert(EmployeeRecord(NIP, "Siti Aminah", "DISKOMINFO", "PNS"))
        store.templates.add(NIP, _unit(rng, 128))  # dlib (the default of add)
        new = store.templates.add(NIP, _unit(rng, 256), REID_NAME, REID_VERSION)
        with pytest.raises(TemplateError, match="has 256 values"):
            store.templates.add(NIP, _unit(rng, 128), REID_NAME, REID_VERSION)
        rows = store.templates.all_for_scope("DISKOMINFO", REID_NAME, REID_VERSION)
        assert [(nip, tid, vec.shape) for nip, tid, vec in rows] == [(NIP, new, (256,))]
        assert len(store.templates.all_for_scope("DISKOMINFO", DLIB_NAME)) == 1
        assert store.templates.all_for_scope("DISKOMINFO", REID_NAME, "other") == []
