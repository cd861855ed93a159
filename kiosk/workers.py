"""Work that never runs on the Qt main thread, and the bridges back to it.

* :class:`TaskRunner` (Anki's taskman shape): ``run(fn, on_ok, on_error)``
  executes ``fn`` on a thread pool; exactly one callback follows, on the UI
  thread. Database writes and sync calls go through it.
* :class:`FrameWorker`: a thread that takes the newest frame from the
  grabber, runs whatever processor the controller wants (recognition or
  enrollment) and sends the result back by a signal. When the processor
  raises, the crash is logged, reported on screen and the worker restarted.
* :class:`CameraMonitor`: forwards the grabber's status (grabber thread) to
  the UI thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QMetaObject, QObject, Qt, QTimer, Slot

from kiosk.ports import Frame

log = logging.getLogger(__name__)

T = TypeVar("T")

Processor = Callable[[Frame, float], object]


class _Bridge(QObject):
    """Carries (callback, value) from any thread to the thread this object lives in.

    Python objects travel through a locked deque; a queued
    ``QMetaObject.invokeMethod`` of ``_drain`` wakes the receiving thread.

    Not ``Signal.emit`` and not ``QCoreApplication.postEvent``: in PySide6
    6.12 ``SignalInstance.emit()`` returns ``True`` without taking a
    reference, and ``postEvent`` returns ``None`` the same way, so every call
    steals one reference from ``True`` (or ``None``). A kiosk posting a few
    frame results a second used up ``True``'s roughly 10,000 references in
    about 40 minutes and died with "Fatal Python error: bool_dealloc".
    ``invokeMethod`` does not leak (``tests/test_kiosk_workers.py`` counts).
    """

    def __init__(self) -> None:
        super().__init__()
        self._items: deque[tuple[Callable[[Any], None], Any]] = deque()
        self._lock = threading.Lock()

    def post(self, callback: Callable[[Any], None], value: Any) -> None:
        """Any thread: run ``callback(value)`` on this object's thread."""
        with self._lock:
            wake = not self._items  # a drain is already queued otherwise
            self._items.append((callback, value))
        if wake:
            QMetaObject.invokeMethod(self, "_drain", Qt.ConnectionType.QueuedConnection)

    @Slot()
    def _drain(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._items:
                        return
                    callback, value = self._items.popleft()
                try:
                    callback(value)
                except Exception:
                    log.exception("a UI callback failed")
        finally:
            with self._lock:
                left = bool(self._items)
            if left:  # a BaseException cut the drain short: the rest still runs
                QMetaObject.invokeMethod(self, "_drain", Qt.ConnectionType.QueuedConnection)


class TaskRunner:
    """Runs slow functions on worker threads; callbacks come back on the UI thread."""

    def __init__(self, max_workers: int = 2, name: str = "kiosk-task") -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        self._bridge = _Bridge()
        self.pending = 0

    def __call__(
        self,
        fn: Callable[[], T],
        on_ok: Callable[[T], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.pending += 1

        def finished(future: Future[T]) -> None:
            exc = future.exception()
            if exc is not None:
                self._bridge.post(self._failed(on_error), exc)
            else:
                self._bridge.post(self._done(on_ok), future.result())

        self._pool.submit(fn).add_done_callback(finished)

    def _done(self, on_ok: Callable[[T], None]) -> Callable[[T], None]:
        def call(value: T) -> None:
            self.pending -= 1
            on_ok(value)

        return call

    def _failed(self, on_error: Callable[[BaseException], None]) -> Callable[[BaseException], None]:
        def call(exc: BaseException) -> None:
            self.pending -= 1
            on_error(exc)

        return call

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class FrameWorker(QObject):
    """Runs the current processor on the newest frame, on its own thread.

    ``set_processor(generation, processor)`` is called on the UI thread when
    the controller's wishes change; results are emitted with the generation
    they were computed for, so the controller drops stale ones. A processor
    that raises ends the thread; ``on_crashed`` hears why (on the UI thread)
    and the worker starts again after ``restart_seconds``, then ``on_restarted``.
    """

    def __init__(
        self,
        grabber: Any,
        *,
        restart_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        name: str = "kiosk-recognition",
    ) -> None:
        super().__init__()
        self._grabber = grabber
        self._clock = clock
        self._name = name
        self._restart_ms = max(1, round(restart_seconds * 1000))
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._processor: Processor | None = None
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames_processed = 0
        self.crashes = 0
        self.last_step_seconds = 0.0
        # Callbacks run on the UI thread (posted through the bridge).
        self.on_result: Callable[[int, object], None] | None = None
        self.on_crashed: Callable[[str], None] | None = None
        self.on_restarted: Callable[[], None] | None = None
        self._bridge = _Bridge()

    def set_processor(self, generation: int, processor: Processor | None) -> None:
        with self._wake:
            self._generation = generation
            self._processor = processor
            self._wake.notify_all()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _current(self) -> tuple[int, Processor | None]:
        with self._wake:
            while self._processor is None and not self._stop.is_set():
                self._wake.wait(0.2)
            return self._generation, self._processor

    def _run(self) -> None:
        last_index = -1
        while not self._stop.is_set():
            generation, processor = self._current()
            if processor is None:
                continue
            frame = self._grabber.wait_newer(last_index, timeout=0.2)
            if frame is None:
                continue
            last_index = frame.index
            started = self._clock()
            try:
                value = processor(frame.image, frame.timestamp)
            except Exception as exc:
                self.crashes += 1
                log.exception("frame processing crashed; restarting the worker")
                self._bridge.post(self._crashed, f"{type(exc).__name__}: {exc}")
                return
            self.last_step_seconds = self._clock() - started
            self.frames_processed += 1
            self._bridge.post(self._deliver, (generation, value))

    def _deliver(self, item: tuple[int, object]) -> None:
        if self.on_result is not None:
            self.on_result(*item)

    def _crashed(self, reason: str) -> None:
        if self.on_crashed is not None:
            self.on_crashed(reason)
        if self._stop.is_set():
            return
        QTimer.singleShot(self._restart_ms, self._restart)

    def _restart(self) -> None:
        if self._stop.is_set():
            return
        if self._thread is not None:
            self._thread.join(1.0)
        self._thread = None
        self.start()
        log.info("recognition worker restarted")
        if self.on_restarted is not None:
            self.on_restarted()


class CameraMonitor:
    """Moves grabber status callbacks (grabber thread) onto the UI thread as ``ok`` flags."""

    def __init__(self) -> None:
        self.on_change: Callable[[bool], None] | None = None
        self.ok = True
        self.reason = ""
        self._bridge = _Bridge()

    def _deliver(self, item: tuple[bool, str]) -> None:
        self.ok, self.reason = item
        if self.on_change is not None:
            self.on_change(item[0])

    def on_status(self, status: Any) -> None:
        """Called on the grabber thread."""
        state = getattr(getattr(status, "state", None), "value", "")
        ok = state in ("running", "starting")
        self._bridge.post(self._deliver, (ok, str(getattr(status, "reason", ""))))


class MainThreadPoster:
    """``post(callback, value)`` from any thread runs ``callback(value)`` on the
    Qt thread that created this object (the UI thread)."""

    def __init__(self) -> None:
        self._bridge = _Bridge()

    def post(self, callback: Callable[[Any], None], value: Any) -> None:
        self._bridge.post(callback, value)
