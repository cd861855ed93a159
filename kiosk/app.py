"""Composition root: builds the whole kiosk from ``config.toml`` and runs it.

:func:`build_kiosk` wires the store, the rules, the recorder, the engine,
the gallery, the camera grabber, the frame worker, the task runner, sync and
the controller together and returns a :class:`Kiosk` that tests can drive;
:func:`run_kiosk` is the ``hadir kiosk`` command. ``--demo`` prepares a
temporary data directory with a demo roster (see :mod:`kiosk.demo`).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hadir.command import CommandError, config_from_args
from hadir.config import HadirConfig

if TYPE_CHECKING:
    from PySide6.QtCore import QTimer

    from attendance.housekeeping import Housekeeping
    from attendance.store import Store
    from kiosk.controller import KioskController
    from kiosk.engine import EngineRecognizer
    from kiosk.fingerprint import FingerprintWatcher
    from kiosk.ports import FingerEnroller
    from kiosk.screens import KioskWindow
    from kiosk.services import GalleryLoader, StoreAdmin, WorkerSync
    from kiosk.workers import CameraMonitor, FrameWorker, TaskRunner
    from recognition.faces import FaceEngine
    from recognition.frames import FrameSource, LatestFrameGrabber
    from sync.worker import SyncWorker

log = logging.getLogger(__name__)

TICK_MS = 250


def build_engine(cfg: HadirConfig) -> FaceEngine:
    """The face pipeline that ``[recognition.detector]`` and ``[recognition.quality]`` describe."""
    from typing import cast

    from kiosk.embedder import KioskModels
    from recognition.faces import FaceEngine, FaceModels, make_detector
    from recognition.modelinfo import DLIB_NAME

    det = cfg.recognition.detector
    detector = make_detector(
        det.backend, det.yunet_model, det.detect_width, det.upsample, det.min_confidence
    )
    # The 68-point landmarks feed the liveness checks. dlib's encoder holds the
    # GIL while it computes, so it runs in a helper process (kiosk.embedder);
    # OpenCV releases the GIL during the Intel model's forward pass, so that
    # model runs in the frame worker's thread.
    model = cfg.recognition.model
    if model == DLIB_NAME:
        models = cast(FaceModels, KioskModels(with_68=True))
    else:
        models = FaceModels(with_68=True, model=model)
    return FaceEngine(detector, models, cfg.recognition.quality)


def attach_migration(
    cfg: HadirConfig, store: Store, recognizer: EngineRecognizer, engine: FaceEngine
) -> None:
    """``[recognition.migration]``: punches of the old model teach the new one."""
    from kiosk.migration import MigratedTemplates
    from recognition.embedding import ReidEmbedder
    from recognition.migration import TemplateMigrator

    params = cfg.recognition.migration
    if not params.target_model or params.target_model == engine.models.model_name:
        return
    migrator = TemplateMigrator(ReidEmbedder(), params)
    sink = MigratedTemplates(
        store, (migrator.info.name, migrator.info.version), params.max_templates
    )
    recognizer.migrator = migrator
    recognizer.on_migrate = sink.add
    log.info("model migration on: punches add %s templates", migrator.info.name)


def close_engine(engine: FaceEngine) -> None:
    """Stop the engine's embedding helper process (if it has one)."""
    close = getattr(engine.models, "close", None)
    if close is not None:
        close()


def build_source(cfg: HadirConfig) -> FrameSource:
    from recognition.frames import source_from_params

    return source_from_params(cfg.camera)


def process_age_seconds() -> float:
    """Seconds since this process started (Linux /proc; 0 elsewhere)."""
    import os

    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(stat[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def memory_mb(pid: int | None = None) -> tuple[float, float]:
    """(resident, peak resident) memory of a process (default: this one) in MB (Linux /proc)."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    status = Path(f"/proc/{pid}/status" if pid is not None else "/proc/self/status")
    try:
        for line in status.read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0]) / 1024
    except (OSError, ValueError):
        pass
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Kiosk:
    """Every long-lived object of a running kiosk (the composition's result)."""

    cfg: HadirConfig
    store: Store
    engine: FaceEngine
    loader: GalleryLoader
    recognizer: EngineRecognizer
    admin: StoreAdmin
    grabber: LatestFrameGrabber
    worker: FrameWorker
    camera: CameraMonitor
    runner: TaskRunner
    controller: KioskController
    window: KioskWindow
    tick_timer: QTimer
    sync_worker: SyncWorker | None = None
    sync: WorkerSync | None = None
    housekeeping: Housekeeping | None = None
    fingerprint: FingerprintWatcher | None = None
    owns_engine: bool = False
    started_at: float = field(default_factory=time.monotonic)
    ready_at: float | None = None
    _stopped: bool = False

    def start(self) -> None:
        self.grabber.start()
        self.worker.start()
        if self.sync_worker is not None:
            self.sync_worker.start()
        if self.housekeeping is not None:
            self.housekeeping.start()
        if self.fingerprint is not None:
            self.fingerprint.start()
        self.tick_timer.start(TICK_MS)
        self.controller.tick()
        self.ready_at = time.monotonic()
        log.info(
            "kiosk ready %.2f s after building began, %.2f s after process start",
            self.ready_at - self.started_at,
            process_age_seconds(),
        )

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.tick_timer.stop()
        self.window.preview_timer.stop()
        self.worker.stop()
        self.grabber.stop()
        if self.sync_worker is not None:
            self.sync_worker.stop(5.0)
        if self.housekeeping is not None:
            self.housekeeping.stop()
        if self.fingerprint is not None:
            self.fingerprint.stop()
        self.runner.shutdown()
        self.store.close()
        if self.owns_engine:
            close_engine(self.engine)


def _finger_enroller(watcher: FingerprintWatcher, store: Store) -> FingerEnroller:
    """The admin screen's fingerprint enrollment, through the watcher's module."""
    from kiosk.services import ADMIN_ACTOR

    def enroll(nip: str, on_step: Callable[[str], None], cancelled: Callable[[], bool]) -> int:
        return watcher.enroll(nip, store.audit, ADMIN_ACTOR, on_step, cancelled)

    return enroll


def _fingerprint_watcher(
    cfg: HadirConfig, store: Store, controller: KioskController
) -> FingerprintWatcher | None:
    """The sensor watcher when ``[fingerprint] port`` is set. A sensor that cannot
    be opened is logged and shown; the kiosk goes on with faces and PIN."""
    from attendance.fingerprints import FingerprintSlots
    from kiosk.fingerprint import FingerprintWatcher
    from kiosk.workers import MainThreadPoster
    from recognition.fingerprint import FingerprintError, FingerprintModule, open_serial

    section = cfg.fingerprint
    if not section.port:
        return None
    try:
        transport = open_serial(section.port, section.baudrate)
    except FingerprintError as exc:
        log.error("%s; the kiosk runs without fingerprints", exc)
        controller.on_fingerprint_error(str(exc))
        return None
    ui = MainThreadPoster()
    return FingerprintWatcher(
        FingerprintModule(transport, password=section.password),
        FingerprintSlots(store.state, section.capacity),
        on_match=lambda nip, score: ui.post(lambda _: controller.on_fingerprint(nip, score), None),
        on_unknown=lambda: ui.post(lambda _: controller.on_fingerprint_unknown(), None),
        on_error=lambda reason: ui.post(controller.on_fingerprint_error, reason),
        poll_seconds=section.poll_seconds,
    )


def _registrar(cfg: HadirConfig, store: Store) -> Callable[[str, str], str]:
    """The device page's registration: exchanges the code, switches sync on (next start)."""
    from attendance.store import key_dir_for
    from sync.registration import register_kiosk

    def register(url: str, code: str) -> str:
        key_dir = key_dir_for(cfg.data_dir, cfg.store)
        return register_kiosk(store, key_dir, url, code, cfg.sync.timeout_seconds).opd_code

    return register


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas: with camera, recognition, sync and UI threads
    each taking its own arena, resident memory grows by tens of megabytes for
    nothing. The environment variable covers child processes (the embedding
    helper); ``mallopt`` covers this one. A no-op off glibc."""
    import ctypes
    import ctypes.util
    import os

    os.environ.setdefault("MALLOC_ARENA_MAX", str(arenas))
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        log.debug("mallopt is not available; malloc arenas not capped")


def build_kiosk(
    cfg: HadirConfig,
    source: FrameSource | None = None,
    *,
    engine: FaceEngine | None = None,
    clock: Any = None,
    on_quit: Callable[[], None] | None = None,
) -> Kiosk:
    """Build (not start) the kiosk from a validated config. Needs a QApplication."""
    from PySide6.QtCore import QTimer

    from attendance.admin import AdminGuard
    from attendance.central import CentralDocuments
    from attendance.clock import ClockTrust, SystemClock
    from attendance.housekeeping import Housekeeping
    from attendance.recorder import PunchRecorder, rules_from_config
    from attendance.store import Store
    from kiosk.controller import KioskController
    from kiosk.engine import EngineEnrollment, EngineRecognizer
    from kiosk.i18n import Catalogue
    from kiosk.screens import KioskWindow
    from kiosk.services import GalleryLoader, StoreAdmin, StorePunches, WorkerSync
    from kiosk.sound import Beeper
    from kiosk.workers import CameraMonitor, FrameWorker, TaskRunner
    from recognition.frames import LatestFrameGrabber, SourceState
    from recognition.gallery import GalleryHolder

    began = time.monotonic()
    limit_malloc_arenas()
    owns_engine = engine is None
    tz = ZoneInfo(cfg.device.timezone)
    cat = Catalogue(cfg.device.language)
    store = Store.from_config(cfg)
    try:
        sys_clock = clock if clock is not None else SystemClock()
        trust = ClockTrust(sys_clock)
        # Schedule groups and calendars from the central server lie over the files.
        central = CentralDocuments(store.state, cfg.rules)
        recorder = PunchRecorder(store, rules_from_config(cfg, central), trust)

        def reload_rules() -> None:
            recorder.set_rules(rules_from_config(cfg, central))
            log.info("punch rules reloaded with the central schedule documents")

        # Clock watch and snapshot purge on their own thread (started with the kiosk).
        housekeeping = Housekeeping(trust, recorder.flag_clock_jump, store.purge_snapshots)
        engine = engine or build_engine(cfg)
        holder = GalleryHolder()
        scope = cfg.device.opd_code if cfg.recognition.match.gallery_scope == "opd" else None
        params = cfg.recognition.match
        loader = GalleryLoader(
            store,
            holder,
            scope,
            mean_templates=params.mean_template,
            model=(engine.models.model_name, engine.models.model_version),
        )
        loader.reload()
        liveness = cfg.recognition.liveness
        recognizer = EngineRecognizer(
            engine, holder, params, liveness, review_wait_seconds=cfg.kiosk.review_wait_seconds
        )
        attach_migration(cfg, store, recognizer, engine)

        camera = CameraMonitor()
        grabber = LatestFrameGrabber(
            source or build_source(cfg),
            reconnect_seconds=cfg.camera.reconnect_seconds,
            on_status=camera.on_status,
        )

        sync_worker: SyncWorker | None = None
        sync: WorkerSync | None = None
        from sync.worker import sync_enabled, sync_server_url

        syncing = sync_enabled(cfg, store)  # the config, or a registration
        if syncing:
            from sync.worker import build_worker

            sync_worker = build_worker(
                cfg,
                store,
                on_roster_changed=loader.reload_quietly,
                central=central,
                on_rules_changed=reload_rules,
                clock_trust=trust,
                clock_lock=threading.Lock(),
            )
            sync = WorkerSync(sync_worker, sync_server_url(cfg))

        guard = AdminGuard(store.admin_state, sys_clock, cfg.admin)

        def camera_ok() -> bool:
            return grabber.status.state in (SourceState.RUNNING, SourceState.STARTING)

        admin = StoreAdmin(
            store,
            guard,
            loader,
            tz,
            trust,
            camera_ok,
            lambda: sync.status() if sync is not None else None,
            sync_server_url(cfg) if syncing else "",
        )
        admin.registrar = _registrar(cfg, store)
        enrollment = EngineEnrollment(
            engine,
            holder,
            cfg.recognition.enrollment,
            admin.save_templates,
            admin.name_of,
        )
        runner = TaskRunner(max_workers=3)
        beeper = Beeper(cfg.data_dir) if cfg.kiosk.sound else None
        controller = KioskController(
            catalogue=cat,
            opd_name=cfg.device.opd_name,
            timezone=tz,
            recognizer=recognizer,
            punches=StorePunches(
                store, recorder, cfg.device.language, lockout=cfg.admin, clock=sys_clock
            ),
            admin=admin,
            enrollment=enrollment,
            sync=sync,
            runner=runner,
            monotonic=time.monotonic,
            result_seconds=cfg.kiosk.result_seconds,
            admin_idle_seconds=cfg.kiosk.admin_idle_seconds,
            on_success=beeper.play if beeper is not None else None,
            on_quit=on_quit,
        )
        fingerprint = _fingerprint_watcher(cfg, store, controller)
        if fingerprint is not None:
            admin.on_fingerprint_erased = fingerprint.delete_slots
            controller.attach_finger_enroller(_finger_enroller(fingerprint, store))
        worker = FrameWorker(grabber)
        worker.on_result = controller.on_frame_result
        worker.on_restarted = controller.on_worker_restarted
        camera.on_change = controller.on_camera

        def wishes() -> None:
            worker.set_processor(controller.generation, controller.frame_processor())

        controller.subscribe(wishes)
        wishes()

        def newest() -> Any:
            frame = grabber.latest()
            return frame.image if frame is not None else None

        window = KioskWindow(controller, frames=newest)
        tick = QTimer(window)
        tick.timeout.connect(controller.tick)
        tick.timeout.connect(wishes)
    except BaseException:
        store.close()
        if owns_engine and engine is not None:
            close_engine(engine)
        raise
    return Kiosk(
        cfg=cfg,
        store=store,
        engine=engine,
        loader=loader,
        recognizer=recognizer,
        admin=admin,
        grabber=grabber,
        worker=worker,
        camera=camera,
        runner=runner,
        controller=controller,
        window=window,
        tick_timer=tick,
        sync_worker=sync_worker,
        sync=sync,
        housekeeping=housekeeping,
        fingerprint=fingerprint,
        started_at=began,
        owns_engine=owns_engine,
    )


def run_kiosk(args: argparse.Namespace) -> int:
    """``hadir kiosk [--config FILE] [--demo] [--source PATH] [--exit-after S]``."""
    import os

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from hadir.configfile import ConfigError
    from kiosk.qtlog import install_qt_log
    from recognition.faces import ModelError
    from recognition.frames import FrameSourceError

    # The demo uses a temporary folder of its own (its summary line names it).
    cfg = config_from_args(args, HadirConfig, data_dir_key=None if args.demo else "device.data_dir")
    install_qt_log()
    app = QApplication.instance() or QApplication(["hadir"])
    demo_dir: Path | None = None
    source: FrameSource | None = None
    engine: FaceEngine | None = None
    if args.demo:
        from kiosk.demo import prepare_demo

        try:
            demo = prepare_demo(cfg, args.source, getattr(args, "data_dir", None))
        except ModelError as exc:
            raise CommandError(f"the kiosk cannot start: {exc}") from None
        cfg, source, engine, demo_dir = demo.cfg, demo.source, demo.engine, demo.data_dir
        print(demo.summary, flush=True)
    elif args.source is not None:
        from recognition.frames import open_source

        kind = "images" if args.source.is_dir() else "video"
        source = open_source(kind, path=str(args.source), loop=True)
    try:
        kiosk = build_kiosk(cfg, source, engine=engine, on_quit=app.quit)
    except (ConfigError, FrameSourceError, ModelError, OSError, ValueError) as exc:
        raise CommandError(f"the kiosk cannot start: {exc}") from None
    window = kiosk.window
    if cfg.kiosk.fullscreen and not args.windowed and not args.demo:
        window.showFullScreen()
    else:
        window.resize(cfg.kiosk.width, cfg.kiosk.height)
        window.show()
    kiosk.start()
    from kiosk.watchdog import Watchdog

    watchdog = Watchdog(window)  # READY=1 and the watchdog, when run by systemd
    watchdog.start(status=f"kiosk ready, data in {cfg.data_dir}")
    if args.exit_after is not None:
        QTimer.singleShot(max(0, round(args.exit_after * 1000)), app.quit)
    try:
        code = app.exec()
    finally:
        watchdog.stop()
        rss, peak = memory_mb()
        helper = getattr(getattr(kiosk.engine.models, "helper", None), "pid", None)
        helper_rss = memory_mb(helper)[0] if helper is not None else 0.0
        log.info(
            "kiosk exiting: resident memory %.0f MB (peak %.0f MB), embedding helper %.0f MB, "
            "%d frames recognised",
            rss,
            peak,
            helper_rss,
            kiosk.worker.frames_processed,
        )
        kiosk.stop()
        if engine is not None:
            close_engine(engine)
        if demo_dir is not None and getattr(args, "data_dir", None) is None:
            import shutil

            shutil.rmtree(demo_dir, ignore_errors=True)
    return int(code)
