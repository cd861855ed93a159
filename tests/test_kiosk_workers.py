"""The kiosk's threads: tasks come back on the UI thread, a crashed worker restarts."""

from __future__ import annotations

import gc
import sys
import threading
from typing import Any

import numpy as np
import pytest

from recognition.frames import FakeFrameSource, LatestFrameGrabber

pytest.importorskip("pytestqt")


def test_task_runner_runs_off_the_ui_thread_and_calls_back_on_it(qtbot: Any) -> None:
    from kiosk.workers import TaskRunner

    runner = TaskRunner()
    ui = threading.get_ident()
    seen: dict[str, Any] = {}

    def work() -> int:
        seen["work_thread"] = threading.get_ident()
        return 42

    runner(
        work,
        lambda v: seen.update(ok=v, ok_thread=threading.get_ident()),
        lambda e: seen.update(error=e),
    )
    qtbot.waitUntil(lambda: "ok" in seen, timeout=5000)
    assert seen["ok"] == 42
    assert seen["work_thread"] != ui and seen["ok_thread"] == ui

    def fail() -> int:
        raise OSError("disk full")

    errors: list[BaseException] = []
    runner(fail, lambda v: None, errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], OSError) and str(errors[0]) == "disk full"
    assert runner.pending == 0
    runner.shutdown()


def test_crashing_frame_worker_is_reported_and_restarted(qtbot: Any) -> None:
    from kiosk.workers import FrameWorker

    source = FakeFrameSource([np.zeros((48, 64, 3), np.uint8)], fps=100)
    grabber = LatestFrameGrabber(source, reconnect_seconds=0.1).start()
    worker = FrameWorker(grabber, restart_seconds=0.05)
    calls = {"n": 0}

    def process(frame: np.ndarray, now: float) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated bug in the engine")
        return frame.shape

    results: list[tuple[int, object]] = []
    restarted: list[bool] = []
    crashes: list[str] = []
    worker.on_result = lambda gen, value: results.append((gen, value))
    worker.on_crashed = crashes.append
    worker.on_restarted = lambda: restarted.append(True)
    worker.set_processor(7, process)
    worker.start()
    try:
        qtbot.waitUntil(lambda: bool(crashes), timeout=5000)
        assert crashes == ["RuntimeError: simulated bug in the engine"]
        qtbot.waitUntil(lambda: bool(restarted), timeout=5000)
        qtbot.waitUntil(lambda: calls["n"] > 6, timeout=5000)
        assert worker.alive and worker.crashes == 1
        qtbot.waitUntil(lambda: len(results) > 4, timeout=5000)
        assert all(gen == 7 and value == (48, 64, 3) for gen, value in results)
    finally:
        worker.stop()
        grabber.stop()


@pytest.mark.slow
def test_embedding_helper_matches_in_process_and_recovers_from_a_kill(shared_data: Any) -> None:
    import contextlib
    import os
    import signal

    import cv2

    from kiosk.embedder import EmbedderError, KioskModels
    from recognition.faces import FaceEngine, FaceModels, make_detector
    from recognition.images import load_image

    rgb = load_image(shared_data / "faces" / "yale" / "subject02" / "normal.png")
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[45:435, 64:576] = cv2.resize(rgb, (512, 390))
    detector = make_detector("hog", "", 320, 0, 0.7)
    local = FaceEngine(detector, FaceModels(model="dlib_face_recognition_resnet_model_v1")).analyze(
        frame
    )
    models = KioskModels(with_68=False)
    try:
        remote = FaceEngine(detector, models).analyze(frame)  # type: ignore[arg-type]
        assert local.embedding is not None and remote.embedding is not None
        assert np.array_equal(local.embedding, remote.embedding)
        pid = models.helper.pid
        assert pid is not None and pid != os.getpid()
        os.kill(pid, signal.SIGKILL)
        # the call that meets the dead helper may fail (reported, the worker restarts) ...
        with contextlib.suppress(EmbedderError):
            FaceEngine(detector, models).analyze(frame)  # type: ignore[arg-type]
        # ... and the helper is back for the next one
        again = FaceEngine(detector, models).analyze(frame)  # type: ignore[arg-type]
        assert again.embedding is not None and np.array_equal(again.embedding, local.embedding)
        assert models.helper.restarts == 1
    finally:
        models.close()


# Python 3.12 made None, True and False immortal: a leak cannot be counted (nor harm).
_MORTAL_SINGLETONS = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="None/True/False are immortal from Python 3.12"
)


def _singleton_refs() -> tuple[int, int, int]:
    return sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)


def _quiet_refs(qtbot: Any) -> tuple[int, int, int]:
    """The counts once earlier tests' pending Qt events and garbage are gone
    (the caller keeps the collector off until its second count)."""
    from PySide6.QtWidgets import QApplication

    for _ in range(3):
        QApplication.processEvents()
    gc.collect()
    gc.disable()
    return _singleton_refs()


def _assert_no_leak(before: tuple[int, int, int], after: tuple[int, int, int], n: int) -> None:
    """A leak costs at least one reference per call: n or more. Unrelated code
    running meanwhile moves the counts by far less."""
    assert all(a - b > -n // 2 for a, b in zip(after, before, strict=True)), (before, after)


@_MORTAL_SINGLETONS
def test_posting_to_the_ui_thread_leaks_no_reference_to_true_or_none(qtbot: Any) -> None:
    """PySide6 6.12's ``Signal.emit()`` (and ``postEvent``) steal a reference
    from True (None) on every call: a kiosk posting frame results died of
    "bool_dealloc" after about 40 minutes. The bridge must not."""
    import threading

    from kiosk.workers import MainThreadPoster

    poster = MainThreadPoster()
    got: list[int] = []
    n = 4000

    def worker() -> None:
        for i in range(n):
            poster.post(got.append, i)

    before = _quiet_refs(qtbot)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: len(got) == n, timeout=10000)
        after = _singleton_refs()
    finally:
        gc.enable()
    assert got == list(range(n))  # all delivered, in order
    _assert_no_leak(before, after, n)


@_MORTAL_SINGLETONS
def test_the_qt_binding_keeps_its_references_to_none_and_true(qtbot: Any) -> None:
    """PySide6 6.12.0 on Python 3.11 dropped a reference to None on every void
    call (setText, update, each QPainter call in a paint event) and to True on
    every ``Signal.emit()``: the kiosk's ~45,000 references to None lasted
    about four minutes of preview painting ("none_dealloc"). pyproject.toml
    excludes that release; this guards any other against the same bug."""

    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QLabel

    from kiosk.widgets import CameraView

    class Pinger(QObject):
        ping = Signal()

    label, view, pinger = QLabel("x"), CameraView(), Pinger()
    qtbot.addWidget(label)
    qtbot.addWidget(view)
    view.resize(320, 240)
    view.show()
    pinger.ping.connect(lambda: None)
    frame = np.zeros((240, 320, 3), np.uint8)
    n = 1000

    before = _quiet_refs(qtbot)
    try:
        for i in range(n):
            label.setText(str(i % 2))
            view.show_frame(frame)
            view.grab()  # renders: a paint event, QPainter calls
            pinger.ping.emit()
        after = _singleton_refs()
    finally:
        gc.enable()
    assert view.frames_painted >= n
    _assert_no_leak(before, after, n)
