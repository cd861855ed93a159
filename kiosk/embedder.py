"""dlib's 128-d face embedding in a helper process, so it cannot freeze the screen.

Used only with ``[recognition] model = "dlib_face_recognition_resnet_model_v1"``:
the default model (face-reidentification-retail-0095) runs through OpenCV,
which releases the GIL, in the frame worker's thread (see ``kiosk.app.build_engine``).

dlib's Python bindings keep the GIL while they compute: one embedding takes
tens of milliseconds on a desktop and several hundred on a Raspberry Pi or a
loaded machine, and during that time the Qt main thread cannot run a line of
Python (the preview and the clock stop). :class:`KioskModels` is a drop-in
for :class:`recognition.faces.FaceModels` that keeps the landmark predictors
in the kiosk process (a few milliseconds) and sends the embedding to
``python -m kiosk.embedder``, a child process holding only the ResNet model.

The wire format is plain bytes, no pickles: each request is a 4-byte
big-endian length and a payload of one JSON header line (image size, face
rectangle, the five landmark points, jitters) followed by the RGB pixels of
a crop around the face; the answer is a length and 512 bytes (128 float32,
little-endian) or ``E`` followed by an English error message. If the helper
dies it is restarted at the next call; the call that saw it die raises
:class:`EmbedderError` (the frame worker reports that and goes on).
"""

from __future__ import annotations

import json
import logging
import struct
import subprocess
import sys
import threading
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from recognition.modelfiles import encoder_problem, model_paths

log = logging.getLogger(__name__)

EMBEDDING_BYTES = 128 * 4
MAX_PAYLOAD = 64 * 1024 * 1024


class EmbedderError(RuntimeError):
    """The embedding helper process failed; the message says how."""


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError("stream closed")
        data += chunk
    return data


def _read_message(stream: IO[bytes]) -> bytes:
    (length,) = struct.unpack(">I", _read_exact(stream, 4))
    if length > MAX_PAYLOAD:
        raise ValueError(f"message of {length} bytes exceeds {MAX_PAYLOAD}")
    return _read_exact(stream, length)


def _write_message(stream: IO[bytes], payload: bytes) -> None:
    stream.write(struct.pack(">I", len(payload)) + payload)
    stream.flush()


def crop_request(
    rgb: npt.NDArray[np.uint8],
    rect: tuple[int, int, int, int],
    points: list[tuple[int, int]],
    jitters: int,
) -> bytes:
    """The request payload: a crop with a face-sized margin on every side (the
    aligned chip dlib cuts with padding 0.25 lies well inside it)."""
    h, w = rgb.shape[:2]
    left, top, right, bottom = rect
    size = max(right - left, bottom - top, 1)
    x0, y0 = max(0, left - size), max(0, top - size)
    x1, y1 = min(w, right + size), min(h, bottom + size)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    header = {
        "h": int(crop.shape[0]),
        "w": int(crop.shape[1]),
        "rect": [left - x0, top - y0, right - x0, bottom - y0],
        "points": [[x - x0, y - y0] for x, y in points],
        "jitters": int(jitters),
    }
    return json.dumps(header).encode() + b"\n" + crop.tobytes()


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The helper's loop: one embedding per request until stdin closes."""
    import dlib

    encoder = dlib.face_recognition_model_v1(str(model_paths()["resnet"]))
    while True:
        try:
            payload = _read_message(stdin)
        except EOFError:
            return
        try:
            head, _, pixels = payload.partition(b"\n")
            header = json.loads(head)
            h, w = int(header["h"]), int(header["w"])
            if len(pixels) != h * w * 3:
                raise ValueError(f"expected {h * w * 3} pixel bytes, got {len(pixels)}")
            image = np.frombuffer(pixels, np.uint8).reshape(h, w, 3)
            rect = dlib.rectangle(*(int(v) for v in header["rect"]))
            parts = dlib.points()
            for x, y in header["points"]:
                parts.append(dlib.point(int(x), int(y)))
            shape = dlib.full_object_detection(rect, parts)
            vec = encoder.compute_face_descriptor(image, shape, int(header["jitters"]), 0.25)
            answer = np.asarray(vec, dtype="<f4").tobytes()
        except Exception as exc:  # reported to the caller, the helper goes on
            answer = b"E" + f"{type(exc).__name__}: {exc}".encode()
        _write_message(stdout, answer)


class EmbedderProcess:
    """The client side: starts ``python -m kiosk.embedder`` and talks to it (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def _ensure(self) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return proc
        if proc is not None:
            self.restarts += 1
            log.warning("embedding helper exited with %s; restarting it", proc.returncode)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk.embedder"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        return self._proc

    def start(self) -> None:
        with self._lock:
            self._ensure()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def embed(self, request: bytes) -> npt.NDArray[np.float32]:
        with self._lock:
            proc = self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _write_message(proc.stdin, request)
                answer = _read_message(proc.stdout)
            except (OSError, EOFError, ValueError) as exc:
                proc.kill()
                raise EmbedderError(f"embedding helper failed: {exc}") from None
        if answer[:1] == b"E" or len(answer) != EMBEDDING_BYTES:
            raise EmbedderError(f"embedding refused: {answer[1:200].decode(errors='replace')}")
        return np.frombuffer(answer, dtype="<f4").astype(np.float32)

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class KioskModels:
    """:class:`recognition.faces.FaceModels` for the kiosk: landmarks here, embedding there."""

    def __init__(self, *, with_68: bool = True) -> None:
        import dlib

        from recognition.faces import ModelError
        from recognition.modelinfo import DLIB_NAME, MODELS

        self.info = MODELS[DLIB_NAME]
        self.model_name, self.model_version, self.dim = DLIB_NAME, self.info.version, self.info.dim

        paths = model_paths()
        for key in ("five", "resnet") + (("sixtyeight",) if with_68 else ()):
            if not paths[key].is_file():
                raise FileNotFoundError(f"dlib model file missing: {paths[key]}")
        problem = encoder_problem(paths["resnet"])
        if problem:
            raise ModelError(problem)
        self._dlib = dlib
        self._five = dlib.shape_predictor(str(paths["five"]))
        self._sixtyeight = dlib.shape_predictor(str(paths["sixtyeight"])) if with_68 else None
        self.helper = EmbedderProcess()
        self.helper.start()  # loads its model while the rest of the kiosk starts

    def shape5(self, rgb: npt.NDArray[np.uint8], box: Any) -> Any:
        rect = self._dlib.rectangle(box.left, box.top, box.right, box.bottom)
        return self._five(rgb, rect)

    def landmarks68(self, rgb: npt.NDArray[np.uint8], box: Any) -> npt.NDArray[np.float32]:
        if self._sixtyeight is None:
            raise RuntimeError("68-point landmarks were not loaded (KioskModels(with_68=True))")
        rect = self._dlib.rectangle(box.left, box.top, box.right, box.bottom)
        shape = self._sixtyeight(rgb, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def embed(
        self, rgb: npt.NDArray[np.uint8], shape5: Any, jitters: int = 0, keypoints: Any = None
    ) -> Any:
        r = shape5.rect
        rect = (int(r.left()), int(r.top()), int(r.right()), int(r.bottom()))
        points = [(int(p.x), int(p.y)) for p in shape5.parts()]
        return self.helper.embed(crop_request(rgb, rect, points, jitters))

    def close(self) -> None:
        self.helper.close()


if __name__ == "__main__":  # pragma: no cover - the helper process
    serve(sys.stdin.buffer, sys.stdout.buffer)
