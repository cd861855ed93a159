"""Where the model files are: dlib's (the ``face_recognition_models`` package)
and the ones shipped in ``recognition/models/`` (YuNet, face-reidentification-retail-0095).

Kept apart from :mod:`recognition.faces` so the kiosk's embedding helper
process can find the models without importing OpenCV.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: SHA-256 of dlib's ResNet encoder (face_recognition_models 0.3.0). Templates
#: carry MODEL_NAME/MODEL_VERSION, which only mean something for this exact file.
RESNET_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"


#: SHA-256 of the shipped YuNet detector (face_detection_yunet_2023mar.onnx).
YUNET_FILE = "yunet/face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"


def bundled_model(relative: str) -> Path:
    """A model file shipped in the package (``recognition/models/<relative>``)."""
    return Path(__file__).resolve().parent / "models" / relative


def checksum_problem(path: Path, sha256: str, what: str) -> str | None:
    """Why ``path`` is not the pinned file ``what`` (missing, other checksum), or ``None``."""
    if not path.is_file():
        return f"{what} model file missing: {path}"
    if file_sha256(path) != sha256:
        return (
            f"{path} is not the expected {what} model (SHA-256 differs): the file is damaged "
            "or replaced; restore it from the Hadir release"
        )
    return None


def encoder_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as dlib's face encoder v1, or ``None`` when it can."""
    if not path.is_file():
        return f"dlib model file missing: {path}"
    if file_sha256(path) != RESNET_SHA256:
        return (
            f"{path} is not dlib's face encoder v1 (checksum differs): the file is "
            "damaged or replaced; reinstall face_recognition_models"
        )
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_paths() -> dict[str, Path]:
    """Files of dlib's models in ``face_recognition_models``: five, sixtyeight, resnet.

    The package is found, not imported: its ``__init__`` imports
    ``pkg_resources``, which scans every installed distribution and costs the
    kiosk about 16 MB of memory and a part of its start-up time.
    """
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face_recognition_models is not installed (dlib's model files)")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    return {
        "five": models / "shape_predictor_5_face_landmarks.dat",
        "sixtyeight": models / "shape_predictor_68_face_landmarks.dat",
        "resnet": models / "dlib_face_recognition_resnet_model_v1.dat",
    }
