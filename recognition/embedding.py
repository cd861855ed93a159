"""Face embedding models: Intel's face-reidentification-retail-0095 (default) and dlib's.

``[recognition] model`` names the model; every template carries the model's
name and version, and a gallery compares only templates of one model
(:mod:`recognition.gallery`). :data:`MODELS` lists what each model is.

face-reidentification-retail-0095 (Intel Open Model Zoo, Apache-2.0) is a
MobileNetV2 network that maps a 128x128 BGR face, aligned by a similarity
transform of five landmarks onto its reference points, to a 256-d vector
compared by cosine similarity. It runs through ``cv2.dnn`` from the ONNX file
shipped in ``recognition/models/`` (SHA-256 pinned, checked at load). Its
vectors are L2-normalised here, so the gallery's Euclidean distance is a
monotone function of the cosine (``d^2 = 2 - 2 cos``) and thresholds stay
distances in [0, 2]. OpenCV releases the GIL while the network runs, unlike
dlib's encoder, so the kiosk needs no helper process for it.

With ``mirror`` the aligned crop and its mirror image are embedded in one
batch and the two vectors added before normalising (an experiment, off by
default: at the calibrated operating point it did not lower lfw-dev's false
rejects at equal false accepts, raised att-orl's, and doubles the cost; see
the README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from recognition.modelfiles import bundled_model, checksum_problem
from recognition.modelinfo import (
    DEFAULT_MODEL,
    DLIB_NAME,
    MODELS,
    REID_NAME,
    ModelInfo,
    model_info,
)

__all__ = ["DEFAULT_MODEL", "DLIB_NAME", "MODELS", "REID_NAME", "ModelInfo", "model_info"]

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]

REID_FILE: Final = "face-reidentification-retail-0095/face-reidentification-retail-0095.onnx"
REID_SHA256: Final = "be9f4410b53c413ed8cfe6275b6fae28ab4b55d0b1790b0e2b64e9066d6fcc3f"
REID_SIZE: Final = 128
#: The model card's reference points, normalised to the 128x128 crop, in the
#: image's left-to-right order: eye, eye, nose tip, mouth corner, mouth corner.
REID_REFERENCE: Final = np.array(
    [
        (0.31556875, 0.46157411),
        (0.68262292, 0.46157411),
        (0.50026250, 0.64050536),
        (0.34947188, 0.82469196),
        (0.65343646, 0.82469196),
    ],
    dtype=np.float32,
)


def alignment_matrix(points: npt.ArrayLike, size: int = REID_SIZE) -> npt.NDArray[np.float64]:
    """The 2x3 similarity transform (rotation, uniform scale, shift) that maps
    the face's landmarks onto the model's reference points in a ``size`` crop.

    ``points`` are five landmarks in YuNet's order (the eye, eye, nose,
    mouth corner, mouth corner, image-left one first for each pair), or just
    the two eye centres. Least squares over all points
    (``cv2.estimateAffinePartial2D`` with every point an inlier).
    """
    src = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    if src.shape[0] not in (2, 5) or not np.isfinite(src).all():
        raise ValueError(f"alignment needs 5 or 2 finite landmark points, got shape {src.shape}")
    dst = REID_REFERENCE[: src.shape[0]] * float(size)
    if src.shape[0] == 2:
        # Two points fix a similarity exactly (estimateAffinePartial2D wants 3+).
        return _two_point_similarity(src, dst)
    matrix, _ = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=1e6, refineIters=20
    )
    if matrix is None:
        raise ValueError("the landmarks are degenerate (no similarity transform fits)")
    return np.asarray(matrix, dtype=np.float64)


def _two_point_similarity(
    src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    s = src.astype(np.float64)
    d = dst.astype(np.float64)
    sv, dv = s[1] - s[0], d[1] - d[0]
    denom = float(sv @ sv)
    if denom <= 0:
        raise ValueError("the two eye points coincide")
    a = float(sv @ dv) / denom  # scale * cos
    b = float(sv[0] * dv[1] - sv[1] * dv[0]) / denom  # scale * sin
    rot = np.array([[a, -b], [b, a]])
    shift = d[0] - rot @ s[0]
    return np.hstack([rot, shift[:, None]])


def align(rgb: ImageArray, points: npt.ArrayLike, size: int = REID_SIZE) -> ImageArray:
    """The aligned ``size`` x ``size`` crop (BGR, as the network wants it)."""
    matrix = alignment_matrix(points, size)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    crop = cv2.warpAffine(
        bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(crop, dtype=np.uint8)


class ReidEmbedder:
    """face-reidentification-retail-0095 through ``cv2.dnn``; one instance per thread.

    Raises :class:`ValueError` naming the file when it is missing or its
    checksum differs (a stored template only means something for that exact
    file), or when OpenCV cannot load it.
    """

    info = MODELS[REID_NAME]

    def __init__(self, path: Path | None = None, *, mirror: bool = False) -> None:
        path = path if path is not None else bundled_model(REID_FILE)
        problem = checksum_problem(path, REID_SHA256, REID_NAME)
        if problem:
            raise ValueError(problem)
        try:
            self._net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise ValueError(f"{path} cannot be loaded by OpenCV: {exc}") from None
        self.mirror = mirror

    def embed_crop(self, crop_bgr: ImageArray) -> FloatArray:
        """The unit 256-d vector of an aligned 128x128 BGR crop."""
        crops = [crop_bgr, cv2.flip(crop_bgr, 1)] if self.mirror else [crop_bgr]
        blob = cv2.dnn.blobFromImages(crops)  # NCHW float32, 0..255, no scaling
        self._net.setInput(blob)
        out = np.asarray(self._net.forward(), dtype=np.float64).reshape(len(crops), -1)
        vec = out.sum(axis=0)
        norm = float(np.linalg.norm(vec))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError("the network returned a zero or non-finite embedding")
        return np.asarray(vec / norm, dtype=np.float32)

    def embed(self, rgb: ImageArray, points: npt.ArrayLike) -> FloatArray:
        """Align the face by its landmarks (see :func:`alignment_matrix`) and embed it."""
        return self.embed_crop(align(rgb, points))
