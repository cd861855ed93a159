"""Frame sources behind one small interface, and the newest-frame mailbox.

A :class:`FrameSource` yields BGR ``uint8`` frames (OpenCV's order) from a
camera, a video file, a folder of images or, in tests, a list of arrays
(:class:`FakeFrameSource`). Sources are not thread-safe: one thread opens,
reads and closes them. :class:`LatestFrameGrabber` is that thread: it keeps
only the newest frame (a mailbox, never a queue), reports a lost camera
through :class:`SourceStatus` and reopens it every ``reconnect_seconds``.

A source built here is *not* opened yet: use it as a context manager
(``with source:``), call :meth:`FrameSource.open`, or hand it to a grabber,
which opens it and keeps reopening it while it fails (a kiosk may boot
before its camera is plugged in).
"""

from __future__ import annotations

import enum
import logging
import sys
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import cv2
import numpy as np
import numpy.typing as npt

from recognition.config import CameraSection
from recognition.images import IMAGE_SUFFIXES, ImageError, load_image, to_bgr

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]

#: Consecutive failed camera reads before the camera counts as lost.
CAMERA_MAX_FAILED_READS = 3
#: A failed read that took this long was a driver time-out (V4L2 waits up to
#: 10 s): the camera counts as lost at once instead of after three of them.
CAMERA_READ_TIMEOUT_SECONDS = 1.0


class FrameSourceError(RuntimeError):
    """A frame source cannot be opened or has stopped delivering; the message says which and why."""


class SourceLostError(FrameSourceError):
    """An opened source stopped delivering frames (camera unplugged, device error)."""


@dataclass(frozen=True)
class Frame:
    """One captured frame.

    ``image`` is BGR ``uint8`` (H, W, 3), as OpenCV gives it; convert with
    :func:`recognition.images.to_rgb` before handing it to dlib. ``index``
    counts frames from 0: per source it restarts when the source is built,
    and a :class:`LatestFrameGrabber` renumbers frames so that its indices
    keep increasing across reconnects. ``timestamp`` is monotonic seconds
    (``time.monotonic`` unless a clock was injected) taken at capture.
    """

    image: npt.NDArray[np.uint8]
    index: int
    timestamp: float


class FrameSource(ABC):
    """A camera-like thing: ``open()``, then ``read()`` until None, then ``close()``.

    ``read()`` returns the next frame, or None at the normal end of a finite
    source (a video or folder that does not loop). It raises
    :class:`SourceLostError` when an opened device stops delivering, and
    :class:`FrameSourceError` for any other failure with a specific message.
    ``open()`` on an open source reopens it; ``close()`` is idempotent.
    """

    @property
    @abstractmethod
    def description(self) -> str:
        """A short English name for logs, such as ``camera 0`` or ``video clip.mp4``."""

    @property
    @abstractmethod
    def is_open(self) -> bool: ...

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def read(self) -> Frame | None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class _Pacer:
    """Spaces frames 1/fps apart, like a camera would; never bursts to catch up."""

    def __init__(self, fps: float | None, clock: Clock, sleep: Sleep) -> None:
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be > 0 or None, got {fps}")
        self._period = 0.0 if fps is None else 1.0 / fps
        self._clock = clock
        self._sleep = sleep
        self._due: float | None = None

    def set_fps(self, fps: float | None) -> None:
        self._period = 0.0 if not fps or fps <= 0 else 1.0 / fps

    def reset(self) -> None:
        self._due = None

    def wait(self) -> None:
        if self._period <= 0.0:
            return
        now = self._clock()
        if self._due is None or now - self._due > self._period:
            self._due = now  # first frame, or we fell behind: restart the schedule
        elif self._due > now:
            self._sleep(self._due - now)
        self._due += self._period


# --- camera ------------------------------------------------------------------


class _CaptureSource(FrameSource):
    """What the OpenCV-backed sources share: numbering frames and releasing
    the ``cv2.VideoCapture``. Subclasses set ``_cap``, ``_pending``,
    ``_index`` and ``_clock``."""

    _cap: Any
    _pending: Any
    _index: int
    _clock: Callable[[], float]

    def _emit(self, image: Any) -> Frame:
        frame = Frame(to_bgr(image), self._index, self._clock())
        self._index += 1
        return frame

    def close(self) -> None:
        cap, self._cap = self._cap, None
        self._pending = None
        if cap is not None:
            cap.release()


class CameraSource(_CaptureSource):
    """A USB/CSI camera through ``cv2.VideoCapture`` (V4L2 on Linux).

    ``index_or_device`` is a camera index (0 = first camera) or a device path
    such as ``/dev/video0``. The requested size and rate are hints; the
    driver picks the nearest mode it supports (logged at open).
    """

    def __init__(
        self,
        index_or_device: int | str,
        width: int = 640,
        height: int = 480,
        fps: int = 15,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        if isinstance(index_or_device, int) and index_or_device < 0:
            raise FrameSourceError(f"camera index must be >= 0, got {index_or_device}")
        if isinstance(index_or_device, str) and not index_or_device:
            raise FrameSourceError("camera device path is empty")
        self._target = index_or_device
        self._width = width
        self._height = height
        self._fps = fps
        self._clock = clock
        self._cap: Any = None
        self._pending: npt.NDArray[Any] | None = None
        self._index = 0

    @property
    def description(self) -> str:
        return f"camera {self._target}"

    @property
    def is_open(self) -> bool:
        return self._cap is not None

    def open(self) -> None:
        self.close()
        linux = sys.platform.startswith("linux")
        target = self._target
        if isinstance(target, int):
            if linux and not Path(f"/dev/video{target}").exists():
                raise FrameSourceError(
                    f"camera index {target} does not exist (no /dev/video{target}); "
                    "check [camera] index or that the camera is plugged in"
                )
        elif not Path(target).exists():
            raise FrameSourceError(f"camera device {target} does not exist")
        api = cv2.CAP_V4L2 if linux else cv2.CAP_ANY
        cap = cv2.VideoCapture(target, api)
        if not cap.isOpened():
            cap.release()
            raise FrameSourceError(
                f"cannot open {self.description}: busy, no permission, or not a capture device"
            )
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(self._width))
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(self._height))
        cap.set(cv2.CAP_PROP_FPS, float(self._fps))
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1.0)  # fewer stale frames in the driver
        ok, image = cap.read()
        if not ok or image is None:
            cap.release()
            raise FrameSourceError(f"{self.description} opened but delivered no frame")
        self._cap = cap
        self._pending = image
        log.info(
            "opened %s at %dx%d, %.1f fps (asked %dx%d, %d fps)",
            self.description,
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            cap.get(cv2.CAP_PROP_FPS),
            self._width,
            self._height,
            self._fps,
        )

    def read(self) -> Frame | None:
        if self._cap is None:
            raise FrameSourceError(f"{self.description} is not open")
        image = self._pending
        self._pending = None
        failures = 0
        while image is None:
            started = time.monotonic()
            ok, grabbed = self._cap.read()
            if ok and grabbed is not None:
                image = grabbed
                break
            failures += 1
            if time.monotonic() - started >= CAMERA_READ_TIMEOUT_SECONDS:
                raise SourceLostError(f"{self.description} timed out waiting for a frame")
            if failures >= CAMERA_MAX_FAILED_READS:
                raise SourceLostError(
                    f"{self.description} stopped delivering frames "
                    f"({failures} failed reads; unplugged or driver error)"
                )
        return self._emit(image)


# --- video file --------------------------------------------------------------


class VideoFileSource(_CaptureSource):
    """A video file decoded with OpenCV's FFmpeg backend.

    With ``loop`` the file starts again at its end (the source never ends);
    with ``realtime`` frames are paced at the file's frame rate, so the file
    behaves like a camera for the kiosk demo and the grabber.
    """

    def __init__(
        self,
        path: str | Path,
        loop: bool = False,
        realtime: bool = False,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._path = Path(path)
        self._loop = loop
        self._realtime = realtime
        self._clock = clock
        self._pacer = _Pacer(None, clock, sleep)
        self._cap: Any = None
        self._pending: npt.NDArray[Any] | None = None
        self._index = 0
        self.fps: float = 0.0

    @property
    def description(self) -> str:
        return f"video {self._path}"

    @property
    def is_open(self) -> bool:
        return self._cap is not None

    def open(self) -> None:
        self.close()
        p = self._path
        if not p.exists():
            raise FrameSourceError(f"video file not found: {p}")
        if not p.is_file():
            raise FrameSourceError(f"not a video file: {p} (a directory or device)")
        if p.stat().st_size == 0:
            raise FrameSourceError(f"video file is empty: {p}")
        cap, first = self._open_capture()
        self._cap = cap
        self._pending = first
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self.fps = fps if 0.5 <= fps <= 240.0 else 15.0
        self._pacer.set_fps(self.fps if self._realtime else None)
        self._pacer.reset()

    def _open_capture(self) -> tuple[Any, npt.NDArray[Any]]:
        cap = cv2.VideoCapture(str(self._path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise FrameSourceError(
                f"cannot open video {self._path}: corrupt file or not a supported video format"
            )
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise FrameSourceError(f"video {self._path} has no decodable frames (corrupt?)")
        return cap, first

    def read(self) -> Frame | None:
        if self._cap is None:
            raise FrameSourceError(f"{self.description} is not open")
        image = self._pending
        self._pending = None
        if image is None:
            ok, grabbed = self._cap.read()
            if ok and grabbed is not None:
                image = grabbed
            elif not self._loop:
                return None
            else:
                # Reopening is more reliable than seeking back across containers.
                self._cap.release()
                self._cap = None
                try:
                    self._cap, image = self._open_capture()
                except FrameSourceError as exc:
                    raise SourceLostError(f"{exc} (while looping)") from None
        self._pacer.wait()
        return self._emit(image)


# --- image folder ------------------------------------------------------------


class ImageFolderSource(FrameSource):
    """The images of one folder (not its subfolders), in file-name order.

    Files are loaded with :func:`recognition.images.load_image` one at a
    time; unreadable ones are skipped with a warning (once each). Opening
    fails when the folder is missing, holds no image files, or none of them
    can be read. ``fps`` paces the frames (None = as fast as they load).
    """

    def __init__(
        self,
        path: str | Path,
        loop: bool = False,
        fps: float | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._path = Path(path)
        self._loop = loop
        self._clock = clock
        self._pacer = _Pacer(fps, clock, sleep)
        self._files: list[Path] = []
        self._bad: set[Path] = set()
        self._pos = 0
        self._pending: npt.NDArray[np.uint8] | None = None
        self._open = False
        self._index = 0

    @property
    def description(self) -> str:
        return f"image folder {self._path}"

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def skipped(self) -> list[Path]:
        """Files found unreadable so far, in name order."""
        return sorted(self._bad)

    def open(self) -> None:
        self.close()
        p = self._path
        if not p.exists():
            raise FrameSourceError(f"image folder not found: {p}")
        if not p.is_dir():
            raise FrameSourceError(f"not a folder: {p}")
        try:
            files = sorted(
                f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
            )
        except OSError as exc:
            raise FrameSourceError(f"cannot list image folder {p}: {exc.strerror}") from None
        if not files:
            raise FrameSourceError(
                f"no image files in {p} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        self._files = files
        self._bad = set()
        self._pos = 0
        self._pending = self._next_image(files_left=len(files))
        if self._pending is None:
            raise FrameSourceError(f"none of the {len(files)} image files in {p} could be read")
        self._open = True
        self._pacer.reset()

    def _next_image(self, files_left: int) -> npt.NDArray[np.uint8] | None:
        """The next readable image after ``_pos``, trying at most ``files_left`` files."""
        for _ in range(files_left):
            if self._pos >= len(self._files):
                if not self._loop:
                    return None
                self._pos = 0
            f = self._files[self._pos]
            self._pos += 1
            if f in self._bad:
                continue
            try:
                rgb = load_image(f)
            except ImageError as exc:
                self._bad.add(f)
                log.warning("skipping unreadable image: %s", exc)
                continue
            return np.ascontiguousarray(rgb[:, :, ::-1])
        return None

    def read(self) -> Frame | None:
        if not self._open:
            raise FrameSourceError(f"{self.description} is not open")
        image = self._pending
        self._pending = None
        if image is None:
            image = self._next_image(files_left=len(self._files))
            if image is None:
                if self._loop:
                    raise SourceLostError(f"no image in {self._path} can be read any more")
                return None
        self._pacer.wait()
        frame = Frame(image, self._index, self._clock())
        self._index += 1
        return frame

    def close(self) -> None:
        self._open = False
        self._pending = None


# --- fake for tests and demos -------------------------------------------------


class FakeFrameSource(FrameSource):
    """A scripted camera over a list of arrays, for tests (lives here beside the real ones).

    Images are copied on every read, as a real camera hands out new buffers.
    Behaviour can be scripted at construction or changed at any time from
    another thread:

    * ``disconnect_after=n``: after ``n`` more frames, ``read()`` raises
      :class:`SourceLostError` and ``open()`` fails until :meth:`reconnect`
      (or until ``failed_opens`` reopen attempts have failed, if given).
    * ``crash_after=n``: after ``n`` more frames, ``read()`` raises a plain
      ``RuntimeError`` once, as a bug in a driver would.

    Counters (``opens``, ``failed_open_attempts``, ``reads``, ``closes``)
    and, with ``track_issued``, weak references to every image handed out
    (``issued``) let tests check what a consumer did without mocking it.
    """

    def __init__(
        self,
        images: Sequence[npt.NDArray[np.generic]],
        *,
        loop: bool = True,
        fps: float | None = None,
        disconnect_after: int | None = None,
        failed_opens: int | None = None,
        crash_after: int | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        name: str = "fake camera",
        track_issued: bool = False,
    ) -> None:
        if not images:
            raise ValueError("FakeFrameSource needs at least one image")
        self._images = [to_bgr(im) for im in images]
        self._loop = loop
        self._pacer = _Pacer(fps, clock, sleep)
        self._clock = clock
        self._name = name
        self._lock = threading.Lock()
        self._disconnect_in = disconnect_after
        self._crash_in = crash_after
        self._failed_opens = failed_opens
        self._connected = True
        self._outage_failures = 0
        self._open = False
        self._pos = 0
        self._index = 0
        self.opens = 0
        self.failed_open_attempts = 0
        self.reads = 0
        self.closes = 0
        self._track = track_issued
        self.issued: list[weakref.ref[npt.NDArray[np.uint8]]] = []

    @property
    def description(self) -> str:
        return self._name

    @property
    def is_open(self) -> bool:
        return self._open

    def disconnect(self) -> None:
        """Unplug now: the next read fails and opens fail until :meth:`reconnect`."""
        with self._lock:
            self._connected = False

    def disconnect_after(self, frames: int) -> None:
        with self._lock:
            self._disconnect_in = frames

    def crash_after(self, frames: int) -> None:
        with self._lock:
            self._crash_in = frames

    def reconnect(self) -> None:
        with self._lock:
            self._connected = True

    def open(self) -> None:
        with self._lock:
            self._open = False
            if not self._connected:
                self.failed_open_attempts += 1
                self._outage_failures += 1
                if self._failed_opens is not None and self._outage_failures >= self._failed_opens:
                    self._connected = True  # comes back after the scripted failures
                    self._outage_failures = 0
                raise FrameSourceError(f"{self._name} is not connected")
            self._open = True
            self.opens += 1
        self._pacer.reset()

    def read(self) -> Frame | None:
        with self._lock:
            if not self._open:
                raise FrameSourceError(f"{self._name} is not open")
            if self._crash_in is not None:
                if self._crash_in <= 0:
                    self._crash_in = None
                    raise RuntimeError(f"simulated driver crash in {self._name}")
                self._crash_in -= 1
            if self._disconnect_in is not None:
                if self._disconnect_in <= 0:
                    self._disconnect_in = None
                    self._connected = False
                else:
                    self._disconnect_in -= 1
            if not self._connected:
                self._open = False
                raise SourceLostError(f"{self._name} disconnected")
            if self._pos >= len(self._images):
                if not self._loop:
                    return None
                self._pos = 0
            image = self._images[self._pos].copy()
            self._pos += 1
            self.reads += 1
            if self._track:
                self.issued.append(weakref.ref(image))
            index = self._index
            self._index += 1
        self._pacer.wait()
        return Frame(image, index, self._clock())

    def close(self) -> None:
        with self._lock:
            if self._open:
                self.closes += 1
            self._open = False


# --- factory -----------------------------------------------------------------


def open_source(
    kind: str,
    index: int = 0,
    device: str = "",
    path: str = "",
    loop: bool = True,
    width: int = 640,
    height: int = 480,
    fps: int = 15,
    *,
    realtime: bool = True,
    clock: Clock = time.monotonic,
) -> FrameSource:
    """Build the frame source that the ``[camera]`` settings describe (not opened yet).

    ``kind`` is ``camera`` (``device`` when set, else ``index``), ``video``
    (``path``; paced at the file's rate when ``realtime``) or ``images``
    (``path``, a folder; paced at ``fps``). Raises :class:`FrameSourceError`
    for an unknown kind or a missing path.
    """
    if kind == "camera":
        return CameraSource(device or index, width, height, fps, clock=clock)
    if kind in ("video", "images"):
        if not path:
            raise FrameSourceError(f"[camera] path must be set when source = {kind!r}")
        if kind == "video":
            return VideoFileSource(path, loop=loop, realtime=realtime, clock=clock)
        return ImageFolderSource(path, loop=loop, fps=fps if realtime else None, clock=clock)
    raise FrameSourceError(
        f"unknown frame source {kind!r}; expected one of 'camera', 'video', 'images'"
    )


def source_from_params(params: CameraSection, *, realtime: bool = True) -> FrameSource:
    """:func:`open_source` from the ``[camera]`` section."""
    return open_source(
        params.source,
        params.index,
        params.device,
        params.path,
        params.loop,
        params.width,
        params.height,
        params.fps,
        realtime=realtime,
    )


# --- the mailbox -------------------------------------------------------------


class SourceState(enum.Enum):
    STARTING = "starting"  # not opened yet
    RUNNING = "running"  # delivering frames
    LOST = "lost"  # failed; retrying every reconnect_seconds
    ENDED = "ended"  # a finite source reached its end
    STOPPED = "stopped"  # stop() was called


@dataclass(frozen=True)
class SourceStatus:
    """What the grabber's source is doing; ``reason`` is English, for logs and diagnostics."""

    state: SourceState
    source: str
    reason: str = ""
    attempts: int = 0  # consecutive failed opens/reads while LOST
    timestamp: float = 0.0


class LatestFrameGrabber:
    """Reads a :class:`FrameSource` on its own thread and keeps only the newest frame.

    Consumers call :meth:`latest` or :meth:`wait_newer` with the index of the
    last frame they handled; older frames are simply replaced, so a slow
    consumer never builds a backlog. When the source fails (cannot open,
    :class:`SourceLostError`, or any exception in ``read()``) the grabber
    logs it, reports a :class:`SourceStatus` with the reason, drops the stale
    frame, closes the source and reopens it every ``reconnect_seconds`` until
    it works again or :meth:`stop` is called.

    Published images are made read-only: several consumers (recognition, the
    preview) may hold the same frame, so copy one before drawing on it.

    ``on_status`` is called on the grabber thread at every change of state
    or reason (the kiosk must hand it over to the UI thread itself); an
    exception raised by the callback is logged, never propagated.
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        reconnect_seconds: float = 2.0,
        on_status: Callable[[SourceStatus], None] | None = None,
        clock: Clock = time.monotonic,
        name: str = "frame-grabber",
    ) -> None:
        if not reconnect_seconds > 0:
            raise ValueError(f"reconnect_seconds must be > 0, got {reconnect_seconds}")
        self._source = source
        self._reconnect = reconnect_seconds
        self._on_status = on_status
        self._clock = clock
        self._name = name
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Frame | None = None
        self._next_index = 0
        self._status = SourceStatus(SourceState.STARTING, source.description)
        self.frames_read = 0
        self.frames_dropped = 0  # frames replaced before any consumer took them
        self.errors = 0  # failures of the source (open or read), each logged
        self._taken_index = -1

    @property
    def status(self) -> SourceStatus:
        with self._cond:
            return self._status

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("grabber already started")
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread and close the source; False if the thread did not end in time.

        A read blocked inside a driver cannot be interrupted; the thread then
        ends (and closes the source) as soon as that read returns.
        """
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        thread = self._thread
        if thread is None:
            self._source.close()
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("%s did not stop within %.1f s", self._name, timeout)
            return False
        return True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def latest(self, after_index: int = -1) -> Frame | None:
        """The newest frame if its index is greater than ``after_index``, else None."""
        with self._cond:
            return self._take(after_index)

    def wait_newer(self, after_index: int = -1, timeout: float | None = None) -> Frame | None:
        """Block until a frame newer than ``after_index`` arrives; None on timeout or end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                frame = self._take(after_index)
                if frame is not None:
                    return frame
                if self._stop.is_set() or self._status.state is SourceState.ENDED:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def _take(self, after_index: int) -> Frame | None:
        frame = self._latest
        if frame is None or frame.index <= after_index:
            return None
        self._taken_index = max(self._taken_index, frame.index)
        return frame

    # -- the thread --

    def _run(self) -> None:
        source = self._source
        try:
            while not self._stop.is_set():
                if not source.is_open and not self._try_open():
                    continue
                try:
                    frame = source.read()
                    if frame is None:
                        self._set_status(SourceState.ENDED, "end of the source")
                        return
                    self._publish(frame)
                except Exception as exc:  # reported and retried, never swallowed
                    self._failed("read", exc)
        finally:
            try:
                source.close()
            except Exception:
                log.exception("closing %s failed", source.description)
            if self._stop.is_set():
                self._set_status(SourceState.STOPPED, "")
            with self._cond:
                self._cond.notify_all()

    def _try_open(self) -> bool:
        try:
            self._source.open()
        except Exception as exc:
            self._failed("open", exc)
            return False
        self._set_status(SourceState.RUNNING, "")
        return True

    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        if isinstance(exc, FrameSourceError):
            reason = str(exc)
            log.warning("%s: %s failed: %s", self._source.description, what, reason)
        else:
            reason = f"unexpected {type(exc).__name__} in {what}: {exc}"
            log.error("%s: %s", self._source.description, reason, exc_info=exc)
        with self._cond:
            self._latest = None  # a stale frame must not be recognised
            self._cond.notify_all()
        try:
            self._source.close()
        except Exception:
            log.exception("closing %s after a failure failed", self._source.description)
        self._set_status(SourceState.LOST, reason)
        self._stop.wait(self._reconnect)

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            previous = self._latest
            if previous is not None and previous.index > self._taken_index:
                self.frames_dropped += 1
            frame.image.flags.writeable = False
            self._latest = replace(frame, index=self._next_index)
            self._next_index += 1
            self.frames_read += 1
            self._cond.notify_all()

    def _set_status(self, state: SourceState, reason: str) -> None:
        with self._cond:
            old = self._status
            attempts = old.attempts + 1 if state is SourceState.LOST else 0
            self._status = SourceStatus(
                state, self._source.description, reason, attempts, self._clock()
            )
            new = self._status
            changed = old.state is not state or old.reason != reason
        if not changed:
            return
        if state is SourceState.RUNNING and old.state is SourceState.LOST:
            log.info("%s is back after %d failed attempts", new.source, old.attempts)
        if self._on_status is not None:
            try:
                self._on_status(new)
            except Exception:
                log.exception("status callback failed for %s", new.source)
