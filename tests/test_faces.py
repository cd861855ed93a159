"""The face pipeline and quality gate on real faces from ../shared/data.

These run dlib's 128-d model (still available as ``[recognition] model``);
the default Intel model has its own tests in test_embedding.py."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.config import QualitySection
from recognition.faces import (
    Box,
    FaceEngine,
    FaceModels,
    HogDetector,
    ModelError,
    YuNetDetector,
    as_embedding,
    make_detector,
)
from recognition.images import as_image, load_image, to_rgb
from recognition.modelinfo import DLIB_NAME
from recognition.quality import assess, yaw_from_landmarks


@pytest.fixture(scope="module")
def models() -> FaceModels:
    return FaceModels(model=DLIB_NAME)


@pytest.fixture(scope="module")
def engine(models: FaceModels) -> FaceEngine:
    return FaceEngine(HogDetector(320, 0), models)


def _faces(shared_data: Path) -> Path:
    return shared_data / "faces"


def _first_images(person_dir: Path, n: int) -> list[Path]:
    return sorted(p for p in person_dir.iterdir() if p.is_file())[:n]


def test_same_person_is_closer_than_others(engine: FaceEngine, shared_data: Path) -> None:
    yale = _faces(shared_data) / "yale"
    a1, a2 = (yale / "subject01" / n for n in ("normal.png", "happy.png"))
    b1 = yale / "subject02" / "normal.png"
    vecs = []
    for p in (a1, a2, b1):
        r = engine.analyze(load_image(p))
        assert r.ok, (p, r.code)
        assert r.embedding is not None and r.embedding.dtype == np.float32
        assert r.embedding.shape == (128,)
        vecs.append(r.embedding)
    same = float(np.linalg.norm(vecs[0] - vecs[1]))
    other = float(np.linalg.norm(vecs[0] - vecs[2]))
    assert same < 0.45 < other


@pytest.mark.parametrize(
    "subset, person", [("att-orl", "s01"), ("lfw-dev", None), ("deepface-colour", "person01")]
)
def test_each_dataset_yields_an_embedding(
    engine: FaceEngine, shared_data: Path, subset: str, person: str | None
) -> None:
    root = _faces(shared_data) / subset
    person_dir = root / person if person else sorted(p for p in root.iterdir() if p.is_dir())[0]
    img = load_image(_first_images(person_dir, 1)[0])
    r = engine.analyze(img, gate=False)
    assert r.box is not None and r.embedding is not None
    # Box mapped back to full-frame pixels, inside the image (small overhang allowed).
    h, w = img.shape[:2]
    assert -w * 0.2 < r.box.left < r.box.right < w * 1.2
    assert -h * 0.2 < r.box.top < r.box.bottom < h * 1.2


def test_yunet_backend_finds_the_same_face(
    models: FaceModels, shared_data: Path, shared_models: Path
) -> None:
    img = load_image(_faces(shared_data) / "yale" / "subject03" / "normal.png")
    hog = FaceEngine(HogDetector(), models).analyze(img)
    yunet_det = make_detector(
        "yunet", str(shared_models / "face_detection_yunet_2023mar.onnx"), 320, 0, 0.7
    )
    assert isinstance(yunet_det, YuNetDetector)
    yunet = FaceEngine(yunet_det, models).analyze(img)
    assert hog.box is not None and yunet.box is not None
    assert hog.box.iou(yunet.box) > 0.4
    assert yunet.embedding is not None and hog.embedding is not None
    assert float(np.linalg.norm(yunet.embedding - hog.embedding)) < 0.3


def test_detector_config_errors(tmp_path: Path) -> None:
    # No path: the YuNet file shipped in recognition/models/.
    assert isinstance(make_detector("yunet", "", 320, 0, 0.7), YuNetDetector)
    with pytest.raises(ModelError, match="not found"):
        make_detector("yunet", str(tmp_path / "missing.onnx"), 320, 0, 0.7)
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a network")
    with pytest.raises(ModelError, match="cannot be loaded"):
        make_detector("yunet", str(bogus), 320, 0, 0.7)
    with pytest.raises(ValueError, match="'hog', 'yunet'"):
        make_detector("cnn", "", 320, 0, 0.7)


def test_no_face_and_tiny_and_huge_images(engine: FaceEngine) -> None:
    blank = np.full((480, 640, 3), 128, np.uint8)
    r = engine.analyze(blank)
    assert r.code == "no_face" and r.embedding is None
    one = to_rgb(np.zeros((1, 1), np.uint8))
    assert engine.analyze(one).code == "no_face"
    huge = np.zeros((6000, 8000, 3), np.uint8)
    assert engine.analyze(huge).code == "no_face"


def test_grey_and_rgba_input(engine: FaceEngine, shared_data: Path) -> None:
    path = _faces(shared_data) / "yale" / "subject01" / "normal.png"
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert grey is not None and bgr is not None
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    r1 = engine.analyze(to_rgb(grey))
    r2 = engine.analyze(to_rgb(bgra))
    assert r1.embedding is not None and r2.embedding is not None
    assert float(np.linalg.norm(r1.embedding - r2.embedding)) < 0.05


def _good_face(engine: FaceEngine, shared_data: Path) -> np.ndarray:
    img = load_image(_faces(shared_data) / "yale" / "subject05" / "normal.png")
    assert engine.analyze(img).code == "ok"
    return img


def test_quality_codes_from_real_faces(engine: FaceEngine, shared_data: Path) -> None:
    img = _good_face(engine, shared_data)
    assert engine.analyze((img * 0.15).astype(np.uint8)).code == "too_dark"
    bright = np.clip(img.astype(np.int16) + 150, 0, 255).astype(np.uint8)
    assert engine.analyze(bright).code == "too_bright"
    blurred = as_image(cv2.GaussianBlur(img, (0, 0), 8.0))
    assert engine.analyze(blurred).code == "blurred"
    # Far away: the face small in a large frame.
    canvas = np.full((960, 1280, 3), 128, np.uint8)
    small = cv2.resize(img, (img.shape[1] // 3, img.shape[0] // 3))
    canvas[400 : 400 + small.shape[0], 600 : 600 + small.shape[1]] = small
    far = engine.analyze(canvas)
    assert far.code in ("too_far", "no_face")
    # Two people side by side.
    two = np.concatenate([img, img], axis=1)
    assert engine.analyze(two).code == "multiple_faces"
    # Cut off by the frame edge.
    r = engine.analyze(img)
    assert r.box is not None
    cut = img[:, r.box.left + r.box.width // 3 :]
    assert engine.analyze(np.ascontiguousarray(cut)).code in ("cut_off", "no_face")


def test_turned_head_from_landmarks() -> None:
    frontal = np.array([[60, 50], [50, 50], [20, 50], [30, 50], [40, 70]], np.float32)
    assert abs(yaw_from_landmarks(frontal)) < 0.01
    turned = frontal.copy()
    turned[4, 0] = 58
    assert yaw_from_landmarks(turned) > 0.35
    img = np.full((200, 200, 3), 120, np.uint8)
    img[::4] = 200  # texture so the face is not "blurred"
    box = Box(10, 20, 80, 100)
    report = assess(img, box, turned + 10, [], QualitySection(min_eye_distance=10))
    assert report.code == "turned"
    assert assess(img, box, frontal + 10, [], QualitySection(min_eye_distance=10)).code == "ok"


def test_embedding_validation() -> None:
    assert as_embedding([0.0] * 128).shape == (128,)
    with pytest.raises(ValueError):
        as_embedding([0.0] * 127)
    with pytest.raises(ValueError):
        as_embedding([float("nan")] * 128)


def test_damaged_or_replaced_model_files_are_refused(tmp_path: Path) -> None:
    from recognition.modelfiles import RESNET_SHA256, encoder_problem, file_sha256, model_paths

    real = model_paths()
    assert file_sha256(real["resnet"]) == RESNET_SHA256
    assert encoder_problem(real["resnet"]) is None
    # A truncated copy of the encoder (an interrupted copy to the kiosk's disk).
    data = real["resnet"].read_bytes()
    short = tmp_path / "resnet.dat"
    short.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="checksum differs"):
        FaceModels(paths={**real, "resnet": short}, model=DLIB_NAME)
    missing = tmp_path / "absent.dat"
    with pytest.raises(ModelError, match="missing"):
        FaceModels(paths={**real, "five": missing})
    # A damaged landmark model: dlib's loader error becomes a clear ModelError.
    broken = tmp_path / "five.dat"
    broken.write_bytes(real["five"].read_bytes()[:1000])
    with pytest.raises(ModelError, match=r"five\.dat cannot be loaded"):
        FaceModels(paths={**real, "five": broken})
