"""The face pipeline: detect, pick the main face, gate quality, landmarks, embed.

Everything heavy (dlib models, the YuNet network) lives in objects built once
by a composition root and passed in; nothing is loaded at import time.
Images enter as RGB uint8 (see :func:`recognition.images.to_rgb`).

Speed notes (2-core x86): detection runs on a copy resized to
``detect_width`` (320 px by default; YuNet or dlib's HOG, ~10 ms) instead of
the full frame with upsampling (~130 ms at 640x480); dlib's 5-point landmarks
cost about 1 ms; the embedding (face-reidentification-retail-0095 through
``cv2.dnn``, ~16 ms a face on one quiet core; dlib's 128-d encoder 80-100 ms)
is computed only for a face that passed the quality gate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from recognition.config import QualitySection
from recognition.embedding import DEFAULT_MODEL, DLIB_NAME, ModelInfo, ReidEmbedder, model_info
from recognition.gallery import check_vector
from recognition.modelfiles import (
    YUNET_FILE,
    YUNET_SHA256,
    bundled_model,
    checksum_problem,
    encoder_problem,
    model_paths,
)
from recognition.quality import QualityReport, assess

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]


class ModelError(RuntimeError):
    """A model file is missing or unusable; the message names the file."""


@dataclass(frozen=True)
class Box:
    """A face box in full-frame pixel coordinates (right/bottom exclusive)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    def iou(self, other: Box) -> float:
        ix = max(0, min(self.right, other.right) - max(self.left, other.left))
        iy = max(0, min(self.bottom, other.bottom) - max(self.top, other.top))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def scaled(self, factor: float) -> Box:
        return Box(
            round(self.left * factor),
            round(self.top * factor),
            round(self.right * factor),
            round(self.bottom * factor),
        )


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    # YuNet's five keypoints (right eye, left eye, nose, right and left mouth
    # corner) in full-frame pixels, or None for detectors without them.
    keypoints: FloatArray | None = None


class Detector(Protocol):
    name: str

    def detect(self, rgb: ImageArray) -> list[Detection]: ...


def _resize_to_width(rgb: ImageArray, width: int) -> tuple[ImageArray, float]:
    h, w = rgb.shape[:2]
    if w == width:
        return rgb, 1.0
    scale = width / float(w)
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    small = cv2.resize(rgb, (width, max(1, round(h * scale))), interpolation=interp)
    return np.ascontiguousarray(small), scale


class HogDetector:
    """dlib's HOG detector run on a copy resized to ``detect_width``.

    Small images (such as 92x112 AT&T faces) are enlarged to the working
    width, large frames shrunk, so one setting serves kiosk frames and photo
    datasets; boxes are mapped back to full-frame pixels.
    """

    name = "hog"

    def __init__(self, detect_width: int = 320, upsample: int = 0) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self._width = detect_width
        self._upsample = upsample

    def detect(self, rgb: ImageArray) -> list[Detection]:
        small, scale = _resize_to_width(rgb, self._width)
        rects, scores, _ = self._detector.run(small, self._upsample, 0.0)
        out = []
        inv = 1.0 / scale
        for rect, score in zip(rects, scores, strict=True):
            box = Box(rect.left(), rect.top(), rect.right(), rect.bottom()).scaled(inv)
            out.append(Detection(box=box, score=float(score)))
        out.sort(key=lambda d: d.box.area, reverse=True)
        return out


class YuNetDetector:
    """OpenCV's YuNet (``cv2.FaceDetectorYN``): the shipped ONNX file or a configured one."""

    name = "yunet"

    def __init__(
        self, model_path: Path | None = None, detect_width: int = 320, min_confidence: float = 0.7
    ):
        if model_path is None:
            model_path = bundled_model(YUNET_FILE)
            problem = checksum_problem(model_path, YUNET_SHA256, "YuNet")
            if problem:
                raise ModelError(problem)
        if not model_path.is_file():
            raise ModelError(f"YuNet model not found: {model_path}")
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(model_path), "", (detect_width, detect_width), min_confidence, 0.3, 50
            )
        except cv2.error as exc:
            raise ModelError(f"YuNet model {model_path} cannot be loaded: {exc}") from None
        self._width = detect_width
        # One FaceDetectorYN is not safe to use from two threads at once.
        self._lock = threading.Lock()

    def detect(self, rgb: ImageArray) -> list[Detection]:
        small, scale = _resize_to_width(rgb, self._width)
        h, w = small.shape[:2]
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        with self._lock:
            self._net.setInputSize((w, h))
            _, faces = self._net.detect(bgr)
        out: list[Detection] = []
        if faces is None:
            return out
        inv = 1.0 / scale
        for row in faces:
            x, y, bw, bh = (float(v) for v in row[:4])
            box = Box(round(x * inv), round(y * inv), round((x + bw) * inv), round((y + bh) * inv))
            kps = (np.asarray(row[4:14], dtype=np.float32).reshape(5, 2) * inv).astype(np.float32)
            out.append(Detection(box=box, score=float(row[14]), keypoints=kps))
        out.sort(key=lambda d: d.box.area, reverse=True)
        return out


def make_detector(
    backend: str, yunet_model: str, detect_width: int, upsample: int, min_confidence: float
) -> Detector:
    """Build the detector named by config (``[recognition.detector]``)."""
    if backend == "hog":
        return HogDetector(detect_width=detect_width, upsample=upsample)
    if backend == "yunet":
        # An empty path means the YuNet file shipped in recognition/models/.
        path = Path(yunet_model) if yunet_model else None
        return YuNetDetector(path, detect_width, min_confidence)
    raise ValueError(f"unknown detector backend {backend!r} (allowed: 'hog', 'yunet')")


class FaceModels:
    """The landmark predictors and the embedding model, loaded once.

    dlib's 5-point predictor always loads (the quality gate's eye distance
    and head pose use it, ~1 ms); the 68-point predictor (trained on iBUG
    300-W, non-commercial) only with ``with_68`` (liveness). The embedding
    model is ``model`` (see :mod:`recognition.embedding`):
    face-reidentification-retail-0095 by default (aligned on the detector's
    five keypoints, or on the eye centres of dlib's 5 points when the
    detector gives none), or dlib's 128-d encoder.
    """

    def __init__(
        self,
        *,
        with_68: bool = False,
        paths: Mapping[str, Path] | None = None,
        model: str = DEFAULT_MODEL,
        mirror: bool = False,
        model_path: Path | None = None,
    ) -> None:
        import dlib

        try:
            self.info: ModelInfo = model_info(model)
        except ValueError as exc:
            raise ModelError(str(exc)) from None
        use_dlib = model == DLIB_NAME
        paths = dict(paths) if paths is not None else model_paths()
        needed = (
            ("five",) + (("resnet",) if use_dlib else ()) + (("sixtyeight",) if with_68 else ())
        )
        for key in needed:
            if not paths[key].is_file():
                raise ModelError(f"dlib model file missing: {paths[key]}")
        self._dlib = dlib
        self._encoder: Any = None
        self._reid: ReidEmbedder | None = None
        if use_dlib:
            # The encoder defines what a stored template means: refuse another file.
            problem = encoder_problem(paths["resnet"])
            if problem:
                raise ModelError(problem)
            self._encoder = _load(dlib.face_recognition_model_v1, paths["resnet"])
        else:
            try:
                self._reid = ReidEmbedder(model_path, mirror=mirror)
            except ValueError as exc:
                raise ModelError(str(exc)) from None
        self._reid_lock = threading.Lock()
        self._five = _load(dlib.shape_predictor, paths["five"])
        self._sixtyeight = _load(dlib.shape_predictor, paths["sixtyeight"]) if with_68 else None

    @property
    def model_name(self) -> str:
        return self.info.name

    @property
    def model_version(self) -> str:
        return self.info.version

    @property
    def dim(self) -> int:
        return self.info.dim

    def shape5(self, rgb: ImageArray, box: Box) -> Any:
        rect = self._dlib.rectangle(box.left, box.top, box.right, box.bottom)
        return self._five(rgb, rect)

    def landmarks68(self, rgb: ImageArray, box: Box) -> FloatArray:
        if self._sixtyeight is None:
            raise ModelError("68-point landmarks were not loaded (FaceModels(with_68=True))")
        rect = self._dlib.rectangle(box.left, box.top, box.right, box.bottom)
        shape = self._sixtyeight(rgb, rect)
        return _shape_points(shape)

    def embed(
        self,
        rgb: ImageArray,
        shape5: Any,
        jitters: int = 0,
        keypoints: FloatArray | None = None,
    ) -> FloatArray:
        """The face's embedding; ``keypoints`` are the detector's five points (YuNet)."""
        if self._reid is None:
            vec = self._encoder.compute_face_descriptor(rgb, shape5, jitters, 0.25)
            return np.asarray(vec, dtype=np.float32)
        points = keypoints if keypoints is not None else _eye_pair(_shape_points(shape5))
        with self._reid_lock:  # one cv2.dnn.Net, one forward at a time
            return self._reid.embed(rgb, points)


def _eye_pair(landmarks5: FloatArray) -> FloatArray:
    """The two eye centres of dlib's 5 points, image-left first (for alignment)."""
    a, b = eye_centers(landmarks5)
    pair = sorted([(float(a[0]), float(a[1])), (float(b[0]), float(b[1]))])
    return np.asarray(pair, dtype=np.float32)


def _load(loader: Callable[[str], Any], path: Path) -> Any:
    try:
        return loader(str(path))
    except RuntimeError as exc:  # dlib's deserialisation errors
        raise ModelError(
            f"dlib model file {path} cannot be loaded (damaged or truncated; reinstall "
            f"face_recognition_models): {str(exc).strip()[:200]}"
        ) from None


def _shape_points(shape: Any) -> FloatArray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


@dataclass
class FaceResult:
    """What one frame yielded for its main face."""

    detections: list[Detection]
    box: Box | None = None
    landmarks: FloatArray | None = None  # 5 points, full-frame pixels
    quality: QualityReport | None = None
    embedding: FloatArray | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.embedding is not None

    @property
    def code(self) -> str:
        """``ok`` or the quality failure code (``no_face``, ``too_far``, ...)."""
        if self.quality is None:
            return "no_face"
        return self.quality.code


class FaceEngine:
    """Frame in, main face out: detection, quality gate, landmarks, embedding."""

    def __init__(
        self, detector: Detector, models: FaceModels, quality: QualitySection | None = None
    ) -> None:
        self.detector = detector
        self.models = models
        self.quality = quality or QualitySection()

    def analyze(
        self,
        rgb: ImageArray,
        *,
        gate: bool = True,
        jitters: int = 0,
        main_face: Literal["largest", "central"] = "largest",
    ) -> FaceResult:
        """Run the pipeline on one RGB frame.

        The main face is the largest one (the person nearest the kiosk), or
        with ``main_face="central"`` the one nearest the image centre (photo
        datasets such as LFW label the centred face; bystanders may be
        larger). With ``gate=False`` the quality gate is reported but does
        not stop the embedding (used when evaluating photo datasets).
        """
        t0 = time.perf_counter()
        detections = self.detector.detect(rgb)
        t1 = time.perf_counter()
        result = FaceResult(detections=detections)
        result.timings_ms["detect"] = (t1 - t0) * 1000
        if not detections:
            result.quality = QualityReport(code="no_face")
            return result
        if main_face == "central" and len(detections) > 1:
            h, w = rgb.shape[:2]
            detections = sorted(
                detections,
                key=lambda d: (d.box.center[0] - w / 2) ** 2 + (d.box.center[1] - h / 2) ** 2,
            )
            result.detections = detections
        main = detections[0]
        result.box = main.box
        shape = self.models.shape5(rgb, main.box)
        pts = _shape_points(shape)
        result.landmarks = pts
        t2 = time.perf_counter()
        result.timings_ms["landmarks"] = (t2 - t1) * 1000
        result.quality = assess(rgb, main.box, pts, [d.box for d in detections[1:]], self.quality)
        t3 = time.perf_counter()
        result.timings_ms["quality"] = (t3 - t2) * 1000
        if gate and not result.quality.passed:
            return result
        result.embedding = self.models.embed(rgb, shape, jitters, main.keypoints)
        result.timings_ms["embedding"] = (time.perf_counter() - t3) * 1000
        return result


def eye_centers(landmarks5: FloatArray) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Centres of the two eyes from dlib's 5-point layout (0-1 and 2-3 are eye corners)."""
    return landmarks5[0:2].mean(axis=0), landmarks5[2:4].mean(axis=0)


def as_embedding(vec: Sequence[float] | FloatArray, dim: int | None = None) -> FloatArray:
    """Validate a template vector (finite float32, 128-d unless ``dim``); see
    :func:`recognition.gallery.check_vector`."""
    return check_vector(vec, "embedding", dim)
