"""recognition.frames: real video and image files, a missing camera, and the grabber's recovery."""

from __future__ import annotations

import gc
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.config import CameraSection
from recognition.frames import (
    CameraSource,
    FakeFrameSource,
    Frame,
    FrameSource,
    FrameSourceError,
    ImageFolderSource,
    LatestFrameGrabber,
    SourceLostError,
    SourceState,
    SourceStatus,
    VideoFileSource,
    open_source,
    source_from_params,
)

CLIP = "head-pose-face-detection-female.mp4"


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


class FakeTime:
    """A clock and a sleep that advances it, for pacing tests without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def read_all(source: FrameSource, limit: int = 10_000) -> list[Frame]:
    frames: list[Frame] = []
    while len(frames) < limit:
        frame = source.read()
        if frame is None:
            break
        frames.append(frame)
    return frames


def _images(n: int) -> list[np.ndarray]:
    return [np.full((6, 8, 3), i % 256, np.uint8) for i in range(n)]


# --- video files ----------------------------------------------------------------


def test_video_file_reads_every_frame_then_ends(shared_data: Path) -> None:
    path = shared_data / "video" / CLIP
    with VideoFileSource(path) as source:
        frames = read_all(source)
        assert source.read() is None  # stays ended
    assert len(frames) == int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert [f.index for f in frames] == list(range(len(frames)))
    for f in frames:
        assert f.image.shape == (270, 480, 3)
        assert f.image.dtype == np.uint8
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps)
    assert not source.is_open


def test_video_file_loops(shared_data: Path) -> None:
    path = shared_data / "video" / CLIP
    with VideoFileSource(path) as once:
        n = len(read_all(once))
    with VideoFileSource(path, loop=True) as source:
        frames = read_all(source, limit=2 * n + 3)
    assert len(frames) == 2 * n + 3
    assert [f.index for f in frames] == list(range(2 * n + 3))
    np.testing.assert_array_equal(frames[n].image, frames[0].image)
    np.testing.assert_array_equal(frames[2 * n + 1].image, frames[1].image)


def test_video_file_realtime_is_paced_at_its_fps(shared_data: Path) -> None:
    fake = FakeTime()
    source = VideoFileSource(
        shared_data / "video" / CLIP, realtime=True, clock=fake.clock, sleep=fake.sleep
    )
    with source:
        frames = read_all(source, limit=10)
    assert source.fps == pytest.approx(12.0, abs=0.5)  # the clips are 12 fps
    gaps = np.diff([f.timestamp for f in frames])
    np.testing.assert_allclose(gaps, 1.0 / source.fps, rtol=1e-6)


def test_corrupt_video_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(20_000))
    with pytest.raises(FrameSourceError, match=r"cannot open video .*clip\.mp4.*corrupt"):
        VideoFileSource(bad).open()


def test_truncated_video_is_refused(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / "video" / CLIP).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index (moov atom) is at the end
    with pytest.raises(FrameSourceError, match=r"cut\.mp4"):
        VideoFileSource(cut).open()


def test_missing_and_odd_video_paths(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="video file not found"):
        VideoFileSource(tmp_path / "nope.mp4").open()
    with pytest.raises(FrameSourceError, match="not a video file"):
        VideoFileSource(tmp_path).open()
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(FrameSourceError, match="empty"):
        VideoFileSource(tmp_path / "empty.mp4").open()


def test_read_before_open_is_an_error(shared_data: Path) -> None:
    with pytest.raises(FrameSourceError, match="not open"):
        VideoFileSource(shared_data / "video" / CLIP).read()


# --- cameras ----------------------------------------------------------------------


def test_camera_index_that_does_not_exist_fails_fast() -> None:
    start = time.monotonic()
    with pytest.raises(FrameSourceError, match="camera index 63 does not exist"):
        CameraSource(63).open()
    assert time.monotonic() - start < 5.0


def test_camera_device_paths(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match=r"camera device .*video99.* does not exist"):
        CameraSource(str(tmp_path / "video99")).open()
    not_a_camera = tmp_path / "video0"
    not_a_camera.write_bytes(b"")
    with pytest.raises(FrameSourceError, match="cannot open camera"):
        CameraSource(str(not_a_camera)).open()
    with pytest.raises(FrameSourceError, match=">= 0"):
        CameraSource(-1)


# --- image folders ------------------------------------------------------------------


def test_image_folder_in_name_order(shared_data: Path) -> None:
    folder = shared_data / "faces" / "att-orl" / "s01"
    with ImageFolderSource(folder) as source:
        frames = read_all(source)
    names = sorted(folder.glob("*.pgm"))
    assert len(frames) == len(names) == 10
    for frame, name in zip(frames, names, strict=True):
        assert frame.image.shape == (112, 92, 3)  # grey became 3-channel BGR
        np.testing.assert_array_equal(
            frame.image[:, :, 0], cv2.imread(str(name), cv2.IMREAD_GRAYSCALE)
        )


def test_image_folder_skips_unreadable_files_and_loops(
    shared_data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    colour = sorted((shared_data / "faces" / "deepface-colour").glob("*/*.jpg"))
    shutil.copy(colour[0], tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"not an image at all")
    shutil.copy(colour[1], tmp_path / "c.jpg")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    caplog.set_level(logging.WARNING, logger="recognition.frames")
    with ImageFolderSource(tmp_path, loop=True) as source:
        frames = read_all(source, limit=6)
        assert source.skipped == [tmp_path / "b.jpg"]
    np.testing.assert_array_equal(frames[0].image, cv2.imread(str(colour[0])))
    np.testing.assert_array_equal(frames[1].image, cv2.imread(str(colour[1])))
    np.testing.assert_array_equal(frames[2].image, frames[0].image)
    assert [f.index for f in frames] == list(range(6))
    warnings = [r for r in caplog.records if "b.jpg" in r.getMessage()]
    assert len(warnings) == 1  # once, not on every loop


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="image folder not found"):
        ImageFolderSource(tmp_path / "missing").open()
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(FrameSourceError, match="not a folder"):
        ImageFolderSource(tmp_path / "file.jpg").open()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(FrameSourceError, match="no image files"):
        ImageFolderSource(empty).open()
    with pytest.raises(FrameSourceError, match="none of the 1 image files"):
        ImageFolderSource(tmp_path).open()


def test_image_folder_is_paced(shared_data: Path) -> None:
    fake = FakeTime()
    folder = shared_data / "faces" / "att-orl" / "s02"
    with ImageFolderSource(folder, fps=5, clock=fake.clock, sleep=fake.sleep) as source:
        frames = read_all(source)
    assert len(frames) == len(list(folder.iterdir())) == 10  # every image, once
    np.testing.assert_allclose(np.diff([f.timestamp for f in frames]), 0.2)


# --- factory --------------------------------------------------------------------------


def test_open_source_builds_each_kind(shared_data: Path) -> None:
    camera = open_source("camera", index=3)
    assert isinstance(camera, CameraSource)
    assert camera.description == "camera 3"
    assert open_source("camera", index=3, device="/dev/video7").description == "camera /dev/video7"
    video = open_source("video", path=str(shared_data / "video" / CLIP), loop=False)
    assert isinstance(video, VideoFileSource)
    assert not video.is_open  # built, not opened
    folder = open_source("images", path=str(shared_data / "faces" / "att-orl" / "s01"))
    assert isinstance(folder, ImageFolderSource)
    params = CameraSection(source="video", path=str(shared_data / "video" / CLIP), loop=False)
    with source_from_params(params, realtime=False) as source:
        assert source.read() is not None


def test_open_source_refuses_bad_settings() -> None:
    with pytest.raises(FrameSourceError, match="path must be set when source = 'video'"):
        open_source("video")
    with pytest.raises(FrameSourceError, match="unknown frame source 'webcam'"):
        open_source("webcam")


# --- the fake ---------------------------------------------------------------------------


def test_fake_source_scripted_disconnect_and_reconnect() -> None:
    fake = FakeFrameSource(_images(3), disconnect_after=4, failed_opens=2)
    fake.open()
    assert [f.image[0, 0, 0] for f in read_all(fake, limit=4)] == [0, 1, 2, 0]
    with pytest.raises(SourceLostError, match="disconnected"):
        fake.read()
    assert not fake.is_open
    for _ in range(2):
        with pytest.raises(FrameSourceError, match="not connected"):
            fake.open()
    fake.open()
    assert fake.read() is not None
    assert (fake.opens, fake.failed_open_attempts) == (2, 2)


# --- the grabber ----------------------------------------------------------------------------


def test_grabber_keeps_only_the_newest_frame() -> None:
    fake = FakeFrameSource(_images(200), loop=False, track_issued=True)
    grabber = LatestFrameGrabber(fake, reconnect_seconds=0.01).start()
    try:
        wait_until(lambda: grabber.status.state is SourceState.ENDED)
        newest = grabber.latest()
        assert newest is not None
        assert newest.index == 199
        assert newest.image[0, 0, 0] == 199
        assert not newest.image.flags.writeable  # shared between consumers
        assert grabber.latest(after_index=199) is None
        assert grabber.frames_read == 200
        assert grabber.frames_dropped == 199  # nobody took the others
    finally:
        assert grabber.stop()
    del newest
    gc.collect()
    alive = [ref for ref in fake.issued if ref() is not None]
    assert len(fake.issued) == 200
    assert len(alive) <= 1  # only the mailbox's frame; no queue kept the rest


def test_grabber_slow_consumer_skips_to_newest() -> None:
    fake = FakeFrameSource(_images(5), loop=True, fps=400)
    with LatestFrameGrabber(fake, reconnect_seconds=0.01) as grabber:
        seen: list[int] = []
        last = -1
        while len(seen) < 5:
            frame = grabber.wait_newer(last, timeout=5.0)
            assert frame is not None
            seen.append(frame.index)
            last = frame.index
            time.sleep(0.03)  # a slow recognition step
    assert seen == sorted(set(seen))
    assert max(np.diff(seen)) > 1  # frames in between were dropped, not queued
    assert grabber.frames_dropped > 0


def test_grabber_recovers_after_disconnect() -> None:
    statuses: list[SourceStatus] = []
    fake = FakeFrameSource(_images(4), fps=500, disconnect_after=10, failed_opens=3)
    grabber = LatestFrameGrabber(fake, reconnect_seconds=0.02, on_status=statuses.append)
    with grabber:
        first = grabber.wait_newer(-1, timeout=5.0)
        assert first is not None
        wait_until(lambda: fake.opens == 2 and grabber.status.state is SourceState.RUNNING)
        after = grabber.wait_newer(9, timeout=5.0)
        assert after is not None
        assert after.index >= 10  # indices keep increasing across the reconnect
    states = [s.state for s in statuses]
    assert states[:3] == [SourceState.RUNNING, SourceState.LOST, SourceState.LOST]
    assert "disconnected" in statuses[1].reason
    assert "not connected" in statuses[2].reason
    assert SourceState.RUNNING in states[3:]
    assert states[-1] is SourceState.STOPPED
    assert fake.failed_open_attempts == 3
    assert grabber.errors == 4  # the lost read and three failed reopens
    assert not fake.is_open


def test_grabber_drops_stale_frame_while_lost() -> None:
    fake = FakeFrameSource(_images(2), fps=500)
    grabber = LatestFrameGrabber(fake, reconnect_seconds=0.05).start()
    try:
        assert grabber.wait_newer(-1, timeout=5.0) is not None
        fake.disconnect()
        wait_until(lambda: grabber.status.state is SourceState.LOST)
        assert grabber.latest() is None
        assert grabber.wait_newer(-1, timeout=0.05) is None
        wait_until(lambda: grabber.status.attempts >= 2)  # keeps retrying
        fake.reconnect()
        assert grabber.wait_newer(-1, timeout=5.0) is not None
        assert grabber.status.state is SourceState.RUNNING
    finally:
        assert grabber.stop()


def test_crash_inside_read_is_reported_and_recovered(caplog: pytest.LogCaptureFixture) -> None:
    statuses: list[SourceStatus] = []
    fake = FakeFrameSource(_images(3), fps=500, crash_after=5)
    caplog.set_level(logging.ERROR, logger="recognition.frames")
    with LatestFrameGrabber(fake, reconnect_seconds=0.02, on_status=statuses.append) as grabber:
        wait_until(lambda: grabber.frames_read >= 10)
    lost = [s for s in statuses if s.state is SourceState.LOST]
    assert len(lost) == 1
    assert "RuntimeError" in lost[0].reason
    assert "simulated driver crash" in lost[0].reason
    assert grabber.errors == 1
    assert fake.opens == 2  # closed and reopened after the crash
    crash_logs = [r for r in caplog.records if "simulated driver crash" in r.getMessage()]
    assert crash_logs
    assert crash_logs[0].exc_info is not None  # with the traceback


def test_missing_camera_is_reported_and_retried_without_hanging() -> None:
    statuses: list[SourceStatus] = []
    grabber = LatestFrameGrabber(
        CameraSource(63), reconnect_seconds=0.02, on_status=statuses.append
    )
    grabber.start()
    try:
        wait_until(lambda: grabber.status.attempts >= 3)
        assert grabber.status.state is SourceState.LOST
        assert "camera index 63 does not exist" in grabber.status.reason
        assert grabber.latest() is None
    finally:
        start = time.monotonic()
        assert grabber.stop()
        assert time.monotonic() - start < 2.0
    assert not grabber.running
    # Repeated failures with the same reason are reported once, not per attempt.
    assert [s.state for s in statuses] == [SourceState.LOST, SourceState.STOPPED]


def test_failing_status_callback_does_not_kill_the_grabber(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(status: SourceStatus) -> None:
        raise ValueError("callback bug")

    fake = FakeFrameSource(_images(2), fps=500)
    caplog.set_level(logging.ERROR, logger="recognition.frames")
    with LatestFrameGrabber(fake, reconnect_seconds=0.02, on_status=explode) as grabber:
        assert grabber.wait_newer(-1, timeout=5.0) is not None
        assert grabber.running
    assert any("status callback failed" in r.getMessage() for r in caplog.records)


def test_grabber_on_real_video_ends_and_wait_returns(shared_data: Path) -> None:
    source = VideoFileSource(shared_data / "video" / CLIP, loop=False)
    grabber = LatestFrameGrabber(source, reconnect_seconds=0.02).start()
    try:
        wait_until(lambda: grabber.status.state is SourceState.ENDED)
        last = grabber.latest()
        assert last is not None
        assert grabber.wait_newer(last.index, timeout=5.0) is None  # ended: no wait
        assert last.image.shape == (270, 480, 3)
    finally:
        assert grabber.stop()
    assert not source.is_open


def test_stop_wakes_a_waiting_consumer() -> None:
    fake = FakeFrameSource(_images(1))
    fake.disconnect()
    grabber = LatestFrameGrabber(fake, reconnect_seconds=10.0).start()
    results: list[Frame | None] = []
    waiter = threading.Thread(target=lambda: results.append(grabber.wait_newer(-1, timeout=30)))
    waiter.start()
    time.sleep(0.05)
    start = time.monotonic()
    assert grabber.stop()
    waiter.join(5.0)
    assert time.monotonic() - start < 2.0  # neither the reconnect wait nor the consumer hang
    assert results == [None]
    assert grabber.status.state is SourceState.STOPPED
    with pytest.raises(RuntimeError, match="already started"):
        grabber.start()
