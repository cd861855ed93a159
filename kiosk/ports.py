"""What the kiosk needs from the engine, the store and sync, as small interfaces.

The controller and the screens depend only on these protocols and plain
dataclasses; :mod:`kiosk.adapters` implements them over ``recognition/``,
``attendance/`` and ``sync/``. Every method here may be slow and is called
off the UI thread (by the frame worker or the task runner), except where a
docstring says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from kiosk.state import FaceBox, PersonRow, SyncMode

Frame = npt.NDArray[np.uint8]
T = TypeVar("T")

Decision = Literal["pending", "match", "review", "unknown", "spoof"]


@dataclass(frozen=True)
class FrameAnalysis:
    """What the recognition worker learned from one frame."""

    frame_size: tuple[int, int]  # width, height
    box: FaceBox | None = None
    guidance: str = "no_face"  # a quality-gate code; "ok" when the face passed
    challenge: str | None = None  # liveness challenge currently asked
    decision: Decision = "pending"
    nip: str | None = None
    distance: float | None = None
    margin: float | None = None
    liveness: str | None = None
    snapshot_jpeg: bytes | None = None
    # decision "review": the nearest enrolled person (offered for NIP + PIN)
    candidate_nip: str | None = None


class Recognizer(Protocol):
    def analyse(self, frame: Frame, now: float) -> FrameAnalysis:
        """One frame (BGR) at monotonic time ``now``; called on the worker thread."""
        ...

    def reset(self) -> None:
        """Forget the current track (after a decision); thread-safe."""
        ...


@dataclass(frozen=True)
class PunchOutcome:
    kind: Literal["recorded", "duplicate"]
    nip: str
    name: str
    local_time: datetime  # of this punch, or of the first punch for a duplicate
    direction: Literal["masuk", "pulang"] | None = None
    lateness_text: str = ""
    verify_mode: str = "face"


class PinRejectedError(Exception):
    """Unknown NIP or wrong PIN (deliberately not saying which)."""


class PinLockedError(PinRejectedError):
    """Too many wrong PINs for this NIP: its PIN punches wait ``retry_after_seconds``."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(f"PIN locked for {retry_after_seconds:.0f} s")
        self.retry_after_seconds = retry_after_seconds


class PunchService(Protocol):
    def record_face(
        self,
        nip: str,
        distance: float | None,
        margin: float | None,
        liveness: str | None,
        snapshot_jpeg: bytes | None,
    ) -> PunchOutcome: ...

    def record_pin(self, nip: str, pin: str, snapshot_jpeg: bytes | None) -> PunchOutcome:
        """Raises :class:`PinRejectedError` for an unknown NIP or a wrong PIN."""
        ...

    def record_fingerprint(
        self, nip: str, score: int, snapshot_jpeg: bytes | None
    ) -> PunchOutcome: ...


@dataclass(frozen=True)
class AdminCheck:
    ok: bool
    attempts_left: int = 0
    locked_seconds: float = 0.0
    not_set: bool = False  # no admin PIN configured on this kiosk yet


@dataclass(frozen=True)
class DeviceInfo:
    camera_ok: bool
    clock_state: str  # synced | unsynced | suspect
    queue: int
    last_sync: datetime | None
    last_error: str
    server: str
    disk_free_bytes: int
    version: str
    temperature_c: float | None = None  # CPU, where the machine reports one
    uptime_seconds: float | None = None  # since boot


class AdminService(Protocol):
    def check_pin(self, pin: str) -> AdminCheck: ...

    def set_first_pin(self, pin: str) -> None: ...

    def register(self, server_url: str, code: str) -> str: ...

    def search(self, query: str) -> list[PersonRow]: ...

    def erase(self, nip: str) -> None: ...

    def export_csv(self, path: Path) -> int: ...

    def device_info(self) -> DeviceInfo: ...


@dataclass(frozen=True)
class EnrollProgress:
    done: int
    total: int
    pose: str  # front | left | right | up | down
    quality: str  # quality-gate code of the last frame ("ok" when accepted)
    box: FaceBox | None = None
    duplicate_nip: str | None = None
    duplicate_name: str | None = None
    inconsistent: bool = False  # the samples stopped looking like one person

    @property
    def complete(self) -> bool:
        return self.done >= self.total and self.duplicate_nip is None and not self.inconsistent


class EnrollmentSession(Protocol):
    def feed(self, frame: Frame, now: float) -> EnrollProgress:
        """One frame (BGR); called on the worker thread."""
        ...

    def save(self) -> int:
        """Store the captured templates; returns how many were saved."""
        ...


class EnrollmentService(Protocol):
    def start(self, person: PersonRow) -> EnrollmentSession:
        """Cheap; called on the UI thread."""
        ...


@dataclass(frozen=True)
class SyncInfo:
    mode: SyncMode
    pending: int
    last_success: datetime | None = None
    last_error: str = ""
    server: str = ""


class SyncService(Protocol):
    def status(self) -> SyncInfo: ...

    def sync_now(self) -> None: ...


class FingerEnroller(Protocol):
    """Enrolls one finger of ``nip`` on the kiosk's sensor and returns its slot.

    Blocking (run it off the UI thread). ``on_step`` is called on that thread
    with what the person should do next (``place``, ``lift``, ``place_again``,
    ``smudged``, ``storing``); ``cancelled`` is polled and stops the
    enrollment. Raises ``recognition.fingerprint.FingerprintError`` (or its
    subclasses ``EnrollmentCancelledError`` and ``kiosk.fingerprint.FingerAlreadyEnrolledError``).
    """

    def __call__(
        self, nip: str, on_step: Callable[[str], None], cancelled: Callable[[], bool]
    ) -> int: ...


class Runner(Protocol):
    """Runs ``fn`` off the UI thread; exactly one callback follows on the UI thread."""

    def __call__(
        self,
        fn: Callable[[], T],
        on_ok: Callable[[T], None],
        on_error: Callable[[BaseException], None],
    ) -> None: ...


def run_inline(
    fn: Callable[[], T], on_ok: Callable[[T], None], on_error: Callable[[BaseException], None]
) -> None:
    """A task runner that runs at once on the caller's thread (for Qt-free tests)."""
    try:
        value = fn()
    except Exception as exc:
        on_error(exc)
        return
    on_ok(value)
