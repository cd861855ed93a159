"""The sync worker: drains the outbox to the central server, exactly once.

Runs in its own thread (:meth:`SyncWorker.start`) or one round at a time
(:meth:`SyncWorker.run_once`, used by ``hadir sync now`` and the loadtest).
A round:

1. returns stale claims (left by a crashed or hung round) to ``ready``;
2. claims a batch from the outbox, pushes it, marks ``accepted`` and
   ``duplicate`` delivered and quarantines ``rejected`` with the server's
   reason; a whole-request 4xx splits the batch until the bad record stands
   alone (then it is quarantined), so one bad record never blocks the rest;
   on any other failure the claims are released. Nothing is deleted;
3. uploads templates enrolled here;
4. pulls roster and template changes by cursor (kept in device state),
   stores templates encrypted and calls ``on_roster_changed``;
5. measures the clock offset against the server and records it;
6. sends a heartbeat.

A network error, timeout, 5xx, 429 or malformed reply ends the round; the
loop waits per :class:`~sync.retry.RetryPolicy`. 401/403 stops sync until a
new registration: the status says "perangkat belum terdaftar". Any other
exception inside the loop is logged, shown in the status, and the loop goes
on.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from attendance.central import CentralDocuments
from attendance.clock import ClockTrust
from attendance.clockfix import flag_untrusted_punches
from attendance.ids import format_utc, parse_utc
from attendance.outbox import OutboxItem
from attendance.store import EmployeeRecord, Store, key_dir_for
from attendance.templates import TemplateError
from hadir.configfile import ConfigError
from sync.adms import AdmsClient, AdmsSync
from sync.client import Change, NativeClient, PunchResult
from sync.credentials import Credentials, CredentialsError, load_credentials
from sync.retry import (
    UNREGISTERED_TEXT,
    RejectedError,
    RetryPolicy,
    SyncError,
    TransientError,
    UnauthorizedError,
)

if TYPE_CHECKING:
    from sync.config import SyncConfig

log = logging.getLogger(__name__)

CURSOR_KEY = "sync.changes_cursor"
FEED_REFUSED_KEY = "sync.feed_refused"  # JSON: {"count": n, "last_seq": s, "last_utc": t, "why": w}
LAST_SUCCESS_KEY = "sync.last_success_utc"
EMPLOYEE_TYPES_FROM_SERVER = {"PPPK_PW": "PPPK_PARUH_WAKTU"}
VERSION = "0.1.0"

SyncState = Literal["idle", "online", "offline", "unregistered", "disabled"]


@dataclass(frozen=True)
class SyncStatus:
    """A snapshot for the kiosk's indicator and device screen."""

    state: SyncState
    pending: int
    oldest_pending_utc: str | None
    quarantined: int
    last_success_utc: str | None
    last_error: str | None  # in words (English, for the device screen and logs)
    delivered_total: int  # delivered by this worker since it started

    @property
    def text(self) -> str:
        """One short line in Bahasa Indonesia for the kiosk."""
        if self.state == "unregistered":
            return UNREGISTERED_TEXT
        if self.state == "disabled":
            return "sinkronisasi tidak aktif"
        if self.state == "offline":
            return f"offline, {self.pending} absensi menunggu"
        if self.pending:
            return f"{self.pending} absensi menunggu"
        return "tersinkron"


@dataclass(frozen=True)
class RoundResult:
    delivered: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    changes_applied: int = 0
    templates_uploaded: int = 0


class ClientFactory(Protocol):
    def __call__(self, creds: Credentials) -> NativeClient: ...


class SyncWorker:
    """Delivers the outbox of one kiosk store. Thread-safe ``status()`` and ``sync_now()``.

    ``key_dir`` holds the token file written by registration; it is re-read
    when it changes, so ``hadir sync register`` takes effect without a
    restart. ``clock_trust`` (optional) receives server-time corrections;
    it is only touched under ``clock_lock`` if one is given (the kiosk shares
    its trust object with the recorder).
    """

    def __init__(
        self,
        store: Store,
        key_dir: Path,
        *,
        batch_size: int = 500,
        timeout_seconds: float = 10.0,
        interval_seconds: float = 15.0,
        policy: RetryPolicy | None = None,
        on_roster_changed: Callable[[], None] | None = None,
        central: CentralDocuments | None = None,
        on_rules_changed: Callable[[], None] | None = None,
        clock_trust: ClockTrust | None = None,
        clock_lock: threading.Lock | None = None,
        client_factory: ClientFactory | None = None,
        stale_claim_seconds: float | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        heartbeat: bool = True,
        max_in_flight: int = 2,
        adms: AdmsSync | None = None,
        changes_page_size: int = 1000,
        ca_file: str = "",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self.ca_file = ca_file
        self.adms = adms
        self.changes_page_size = changes_page_size
        self.store = store
        self.key_dir = key_dir
        self.batch_size = batch_size
        self.timeout_seconds = timeout_seconds
        self.interval_seconds = interval_seconds
        self.policy = policy or RetryPolicy()
        self.on_roster_changed = on_roster_changed
        self.central = central
        self.on_rules_changed = on_rules_changed
        self._rules_changed = False
        self.clock_trust = clock_trust
        self._clock_lock = clock_lock or threading.Lock()
        self._client_factory = client_factory or self._default_client
        self.stale_claim_seconds = (
            stale_claim_seconds if stale_claim_seconds is not None else 3 * timeout_seconds + 5
        )
        self._now = now
        self.heartbeat_enabled = heartbeat
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: NativeClient | None = None
        self._creds: Credentials | None = None
        self._extra_clients: list[NativeClient] = []
        self._creds_mtime: float | None = None
        self._state: SyncState = "idle"
        self._last_error: str | None = None
        self._last_success: str | None = store.state.get(LAST_SUCCESS_KEY)
        self._delivered_total = 0
        self._attempt = 0
        self._clock_offset: float | None = None

    # ------------------------------------------------------------------ public

    def start(self) -> None:
        """Recover stale claims, then run rounds in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            raise RuntimeError("SyncWorker already started")
        self.recover(everything=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="hadir-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.timeout_seconds + 5)
            self._thread = None
        self._close_clients()

    def _close_clients(self) -> None:
        for c in [self._client, *self._extra_clients]:
            if c is not None:
                c.close()
        self._client = None
        self._extra_clients = []

    def sync_now(self) -> None:
        """Wake the loop for a round now (the kiosk's "Sinkronkan sekarang")."""
        self._attempt = 0
        self._wake.set()

    def status(self) -> SyncStatus:
        stats = self.store.outbox.stats()
        with self._lock:
            return SyncStatus(
                state=self._state,
                pending=stats.pending,
                oldest_pending_utc=stats.oldest_pending_utc,
                quarantined=stats.quarantined,
                last_success_utc=self._last_success,
                last_error=self._last_error,
                delivered_total=self._delivered_total,
            )

    def recover(self, *, everything: bool = False) -> int:
        """Return claims older than ``stale_claim_seconds`` to ready (a crashed round's).

        ``everything``: every claim, whatever its age - right after this process
        started, no claim can be one of its own rounds. If another process is
        mid-round on the same store its batch is sent twice, which the server
        answers with duplicates: harmless.
        """
        cutoff = self._now() - timedelta(seconds=0 if everything else self.stale_claim_seconds)
        if everything:
            cutoff += timedelta(seconds=1)
        released = self.store.outbox.release_stale(cutoff)
        if released:
            log.info("recovered %d stale outbox claims", released)
        return released

    def run_once(self) -> RoundResult:
        """One full round (see the module docstring); raises :class:`SyncError` kinds."""
        try:
            if self.adms is not None:
                result, uploaded, applied = self._adms_round(self.adms)
            else:
                client = self._client_or_raise()
                self.recover()
                result = self._push_all(client)
                uploaded = self._upload_templates(client)
                applied = self._pull_changes(client)
                self._correct_clock(client)
                if self.heartbeat_enabled:
                    self._heartbeat(client)
        except UnauthorizedError as exc:
            self._set(state="unregistered", error=f"{UNREGISTERED_TEXT}: {exc}")
            raise
        except TransientError as exc:
            self._set(state="offline", error=str(exc))
            raise
        except RejectedError as exc:
            self._set(state="online", error=str(exc))
            raise
        when = format_utc(self._now())
        self.store.state.set(LAST_SUCCESS_KEY, when)
        with self._lock:
            self._state = "online"
            self._last_error = None
            self._last_success = when
        return replace(result, changes_applied=applied, templates_uploaded=uploaded)

    def _adms_round(self, adms: AdmsSync) -> tuple[RoundResult, int, int]:
        self.recover()
        got = adms.run_once(self._now())
        with self._lock:
            self._delivered_total += got.delivered
        if got.roster_changed and self.on_roster_changed is not None:
            try:
                self.on_roster_changed()
            except Exception:
                log.exception("on_roster_changed callback failed")
        return RoundResult(delivered=got.delivered, batches=1), 0, got.commands

    # ------------------------------------------------------------------ loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.interval_seconds
            try:
                self.run_once()
                self._attempt = 0
            except UnauthorizedError:
                self._attempt = 0  # waits for a new registration; check now and then
            except SyncError as exc:
                self._attempt += 1
                wait = self.policy.delay_for(exc, self._attempt)
                log.warning("sync round failed (%s); next try in %.1f s", exc, wait)
            except Exception as exc:  # a bug or a store failure: report, keep going
                self._attempt += 1
                wait = self.policy.delay(self._attempt)
                log.exception("sync round crashed; next try in %.1f s", wait)
                self._set(state="offline", error=f"internal error: {type(exc).__name__}: {exc}")
            self._wake.wait(wait)
            self._wake.clear()

    def _set(self, *, state: SyncState, error: str | None) -> None:
        with self._lock:
            self._state = state
            self._last_error = error

    # ------------------------------------------------------------------ client

    def _default_client(self, creds: Credentials) -> NativeClient:
        if not creds.server_public_key:
            log.warning(
                "this kiosk was registered before the server signed its feed: feed entries and "
                "acknowledgements are not verified; register again to learn the server's key"
            )
        return NativeClient(
            creds.server_url,
            timeout=self.timeout_seconds,
            token=creds.token,
            server_public_key=creds.server_public_key,
            device_id=creds.device_id,
            ca_file=self.ca_file,
        )

    def _client_or_raise(self) -> NativeClient:
        path = self.key_dir / "server-token"
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            mtime = None
        if self._client is None or mtime != self._creds_mtime:
            try:
                creds = load_credentials(self.key_dir)
            except CredentialsError as exc:
                raise UnauthorizedError(str(exc)) from None
            if creds is None:
                raise UnauthorizedError("this kiosk has no device token (never registered)")
            if creds.device_id != self.store.device_id:
                raise UnauthorizedError(
                    f"the token belongs to device {creds.device_id!r}, this kiosk is "
                    f"{self.store.device_id!r}"
                )
            self._close_clients()
            self._client = self._client_factory(creds)
            self._creds = creds
            self._creds_mtime = mtime
        return self._client

    # ------------------------------------------------------------------ punches

    def _push_clients(self, client: NativeClient) -> list[NativeClient]:
        """One client (HTTP connection) per in-flight batch."""
        while len(self._extra_clients) < self.max_in_flight - 1 and self._creds is not None:
            self._extra_clients.append(self._client_factory(self._creds))
        return [client, *self._extra_clients][: self.max_in_flight]

    def _push_all(self, client: NativeClient) -> RoundResult:
        """Claim, push and settle batches with up to ``max_in_flight`` requests under way.

        Pipelining hides the kiosk's own work (claim, JSON, acknowledgement)
        behind the server's. A batch whose push failed is released; batches
        already under way are still settled before the error is raised.
        """
        clients = self._push_clients(client)
        window = len(clients)
        outbox = self.store.outbox
        total = RoundResult()
        inflight: deque[tuple[Future[RoundResult], list[OutboxItem]]] = deque()
        error: BaseException | None = None
        sent = 0
        with ThreadPoolExecutor(window, thread_name_prefix="hadir-sync-push") as pool:
            try:
                while not self._stop.is_set():
                    if len(inflight) >= window:
                        total = _add(total, self._settle(*inflight.popleft()))
                    items = outbox.claim(self.batch_size, self._now())
                    if not items:
                        break
                    future = pool.submit(self._deliver, clients[sent % window], items)
                    inflight.append((future, items))
                    sent += 1
            except BaseException as exc:
                error = exc
            while inflight:
                try:
                    total = _add(total, self._settle(*inflight.popleft()))
                except BaseException as exc:
                    error = error or exc
        if error is not None:
            raise error
        return total

    def _settle(self, future: Future[RoundResult], items: list[OutboxItem]) -> RoundResult:
        try:
            return future.result()
        except BaseException:
            self.store.outbox.release([i.punch_id for i in items])
            raise

    def _deliver(self, client: NativeClient, items: Sequence[OutboxItem]) -> RoundResult:
        """Push claimed items; ack, quarantine or split. Leaves no item claimed on success."""
        try:
            reply = client.push_punches([i.record for i in items])
        except RejectedError as exc:
            if len(items) == 1:
                reason = f"request refused: {exc}"
                self.store.outbox.quarantine(items[0].punch_id, reason)
                log.warning("punch %s quarantined: %s", items[0].punch_id, reason)
                return RoundResult(quarantined=1, batches=1)
            mid = len(items) // 2
            log.info("batch of %d refused (%s); splitting", len(items), exc)
            first = self._deliver(client, items[:mid])
            return _add(first, self._deliver(client, items[mid:]))
        return self._apply_results(reply.results)

    def _apply_results(self, results: Sequence[PunchResult]) -> RoundResult:
        delivered = [r.id for r in results if r.delivered]
        if delivered:
            self.store.outbox.ack(delivered)
        rejected = [r for r in results if not r.delivered]
        for r in rejected:
            reason = r.reason or "rejected"
            if r.detail:
                reason = f"{reason}: {r.detail}"
            self.store.outbox.quarantine(r.id, reason)
            log.warning("punch %s rejected by the server: %s", r.id, reason)
        flagged = [r for r in results if r.delivered and r.flags]
        if flagged:
            log.info(
                "%d delivered punches carry server flags (e.g. %s)", len(flagged), flagged[0].flags
            )
        dups = sum(1 for r in results if r.status == "duplicate")
        with self._lock:
            self._delivered_total += len(delivered)
        return RoundResult(
            delivered=len(delivered) - dups, duplicates=dups, quarantined=len(rejected), batches=1
        )

    # ------------------------------------------------------------------ templates up

    def _upload_templates(self, client: NativeClient) -> int:
        uploaded = 0
        templates = self.store.templates
        while not self._stop.is_set():
            pending = templates.pending_upload(limit=500)
            if not pending:
                break
            body = [
                {
                    "template_id": info.template_id,
                    "nip": info.nip,
                    "model_name": info.model,
                    "model_version": info.model_version,
                    "template": base64.b64encode(vec.astype("<f4").tobytes()).decode(),
                    "created_utc": info.created_at,
                }
                for info, vec in pending
            ]
            results = client.upload_templates(body)
            done = [r.template_id for r in results if r.status != "rejected"]
            refused = [r for r in results if r.status == "rejected"]
            for r in refused:
                # Kept locally (the person still matches here); not offered again.
                log.warning("server refused template %s: %s", r.template_id, r.reason)
            templates.mark_uploaded(done + [r.template_id for r in refused], self._now())
            uploaded += len(done)
            if len(pending) < 500:
                break
        return uploaded

    # ------------------------------------------------------------------ changes down

    def _pull_changes(self, client: NativeClient) -> int:
        """Apply the feed behind the cursor; the cursor is stored only past what is applied.

        The feed is compacted, so a template may come before the (re-published)
        employee it belongs to. Within a page employees are applied first; a
        template whose person is still unknown waits (in memory) for the later
        pages of this pull, and while one waits the cursor is not moved past
        it, so a crash re-reads those pages (applying is idempotent).
        """
        state = self.store.state
        cursor = int(state.get(CURSOR_KEY) or 0)
        applied = 0
        roster_changed = False
        waiting: list[Change] = []
        while not self._stop.is_set():
            page = client.changes(cursor, limit=self.changes_page_size)
            # employees first (stable: otherwise feed order)
            for change in sorted(page.changes, key=lambda c: c.kind != "employee"):
                if change.kind == "template" and change.op == "upsert" and not self._knows(change):
                    waiting.append(change)
                    continue
                roster_changed = self._apply_change(change) or roster_changed
                applied += 1
            still: list[Change] = []
            for change in waiting:
                if self._knows(change):
                    roster_changed = self._apply_change(change) or roster_changed
                    applied += 1
                else:
                    still.append(change)
            waiting = still
            cursor = page.next_cursor
            if not waiting:
                state.set(CURSOR_KEY, str(cursor))
            if page.refused is not None:
                self._record_refused(*page.refused)
                break
            if not page.has_more:
                break
        for change in waiting:
            log.warning(
                "template %s (seq %d) belongs to a person not in this kiosk's roster; skipped",
                change.key,
                change.seq,
            )
        if waiting and not self._stop.is_set():
            state.set(CURSOR_KEY, str(cursor))
        if roster_changed and self.on_roster_changed is not None:
            try:
                self.on_roster_changed()
            except Exception:
                log.exception("on_roster_changed callback failed")
        if self._rules_changed:
            self._rules_changed = False
            if self.on_rules_changed is not None:
                try:
                    self.on_rules_changed()
                except Exception:
                    log.exception("on_rules_changed callback failed")
        return applied

    def _record_refused(self, seq: int, why: str) -> None:
        """Count a feed entry refused for its signature (reported in the device health)."""
        state = self.store.state
        try:
            old = json.loads(state.get(FEED_REFUSED_KEY) or "{}")
        except ValueError:
            old = {}
        count = int(old.get("count", 0)) if isinstance(old, dict) else 0
        record = {
            "count": count + 1,
            "last_seq": seq,
            "last_utc": format_utc(self._now()),
            "why": why,
        }
        state.set(FEED_REFUSED_KEY, json.dumps(record))
        log.error(
            "refused change feed entry seq %d (%s); the feed stops there until the server "
            "sends a validly signed entry",
            seq,
            why,
        )

    def feed_refusals(self) -> dict[str, Any] | None:
        raw = self.store.state.get(FEED_REFUSED_KEY)
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _knows(self, change: Change) -> bool:
        nip = change.data.get("nip")
        return isinstance(nip, str) and self.store.employees.get(nip) is not None

    def _apply_change(self, change: Change) -> bool:
        """Apply one change; True if the gallery/roster changed. Bad data is logged, skipped."""
        try:
            if change.kind == "employee":
                return self._apply_employee(change)
            if change.kind == "template":
                return self._apply_template(change)
            if change.kind == "scope_exit":
                return self._apply_scope_exit(change)
        except (ValueError, TypeError, KeyError, TemplateError) as exc:
            log.warning(
                "skipped %s change %s (seq %d): %s", change.kind, change.key, change.seq, exc
            )
            return False
        if change.kind in ("schedule_group", "calendar"):
            self._apply_document(change)
            return False
        log.debug("ignoring %s change %s", change.kind, change.key)
        return False

    def _apply_document(self, change: Change) -> None:
        """Keep a central schedule group or calendar (applied after the pull)."""
        if self.central is None:
            log.debug("no central document store; ignoring %s %s", change.kind, change.key)
            return
        try:
            if change.op == "delete":
                changed = self.central.delete(change.kind, change.key)
            else:
                self.central.put(change.kind, change.key, change.data)
                changed = True
        except ConfigError as exc:
            # The previous version (if any) stays in force; the server's admin
            # sees the reason in the kiosk log and in its health.
            log.warning(
                "refused central %s %r (seq %d): %s", change.kind, change.key, change.seq, exc
            )
            return
        log.info(
            "central %s %r %s",
            change.kind,
            change.key,
            "removed" if change.op == "delete" else "stored",
        )
        self._rules_changed = self._rules_changed or changed

    def _apply_employee(self, change: Change) -> bool:
        employees = self.store.employees
        if change.op == "delete":
            existing = employees.get(change.key)
            if existing is None:
                return False
            employees.upsert(replace(existing, active=False))
            return True
        d = change.data
        etype = str(d.get("employee_type", "PNS"))
        record = EmployeeRecord(
            nip=str(d["nip"]),
            name=str(d["name"]),
            opd_code=str(d["opd_code"]),
            employee_type=EMPLOYEE_TYPES_FROM_SERVER.get(etype, etype),
            schedule_group=str(d.get("schedule_group") or "default"),
            active=bool(d.get("active", True)),
        )
        employees.upsert(record)
        return True

    def _apply_scope_exit(self, change: Change) -> bool:
        """The person no longer punches here: their templates go, their record is inactive."""
        nip = str(change.data["nip"])
        removed = self.store.templates.delete_person(nip)
        existing = self.store.employees.get(nip)
        if existing is not None and existing.active:
            self.store.employees.upsert(replace(existing, active=False))
        log.info("a person left this kiosk's scope; %d templates deleted", removed)
        return True

    def _apply_template(self, change: Change) -> bool:
        templates = self.store.templates
        if change.op == "delete":
            return templates.delete(change.key)
        d = change.data
        raw = base64.b64decode(str(d["template"]), validate=True)
        if len(raw) % 4:
            raise ValueError("template bytes are not float32")
        vector = np.frombuffer(raw, dtype="<f4")
        created = d.get("created_utc")
        templates.add(
            str(d["nip"]),
            vector,
            model=str(d.get("model_name")),
            version=str(d.get("model_version")),
            source="server",
            template_id=str(d.get("template_id") or change.key),
            created_at=parse_utc(created) if isinstance(created, str) else None,
            uploaded=True,
        )
        return True

    # ------------------------------------------------------------------ time and health

    def _correct_clock(self, client: NativeClient) -> float:
        """Offset = server time at the middle of the round trip minus our time then.

        The offset is recorded in the clock trust (never rewriting anything), and
        each punch of this boot recorded with an untrusted clock gets a
        correction beside it: its time estimated from the server's clock and the
        monotonic clock. The signed punch itself is untouched.
        """
        t0 = time.monotonic()
        # The offset is of the clock that stamps punches: the trust's, if given.
        local_before = self.clock_trust.clock.now_utc() if self.clock_trust else self._now()
        server = client.server_time()
        rtt = time.monotonic() - t0
        local_mid = local_before + timedelta(seconds=rtt / 2)
        server_mid = server.unix_ms / 1000.0
        offset = server_mid - local_mid.timestamp()
        with self._lock:
            self._clock_offset = offset
        if abs(offset) > 2.0:
            log.warning("local clock differs from the server by %+.3f s", offset)
        if self.clock_trust is not None:
            with self._clock_lock:
                self.clock_trust.apply_server_offset(offset)
                reading = self.clock_trust.read()
            flagged = flag_untrusted_punches(
                self.store, reading.boot_id, reading.monotonic_ns, server_mid, offset, self._now()
            )
            if flagged:
                log.info(
                    "estimated the true time of %d punches taken with an untrusted clock", flagged
                )
        return offset

    def clock_offset(self) -> float | None:
        with self._lock:
            return self._clock_offset

    def _heartbeat(self, client: NativeClient) -> None:
        stats = self.store.outbox.stats()
        health: dict[str, Any] = {
            "queue_length": stats.pending,
            "quarantined": stats.quarantined,
            "version": VERSION,
        }
        if stats.oldest_pending_utc:
            health["oldest_undelivered_utc"] = stats.oldest_pending_utc
        offset = self.clock_offset()
        if offset is not None:
            health["clock_offset_seconds"] = round(offset, 3)
            health["clock_state"] = "synced" if abs(offset) <= 2.0 else "unsynced"
        with contextlib.suppress(OSError):
            health["disk_free_bytes"] = shutil.disk_usage(self.store.data_dir).free
        refused = self.feed_refusals()
        if refused is not None:
            health["feed_signature_failures"] = refused
        health["chain"] = delivered_chain_head(self.store)
        from attendance.hostinfo import cpu_temperature_c, uptime_seconds

        temperature = cpu_temperature_c()
        if temperature is not None:
            health["temperature_c"] = temperature
        uptime = uptime_seconds()
        if uptime is not None:
            health["uptime_seconds"] = round(uptime)
        client.heartbeat(health)


def delivered_chain_head(store: Store) -> dict[str, Any]:
    """What this kiosk believes the server holds: delivered punches, and the newest one's
    seq and hash (the server's devices page reconciles it against its own rows)."""
    from sqlalchemy import func, select

    from attendance.integrity import record_hash
    from attendance.models import OutboxEntry, Punch
    from attendance.records import punch_record, record_columns

    delivered = OutboxEntry.state == "delivered"
    with store.db.read() as conn:
        count = conn.execute(
            select(func.count()).select_from(OutboxEntry).where(delivered)
        ).scalar_one()
        row = (
            conn.execute(
                select(*record_columns())
                .join(OutboxEntry, OutboxEntry.punch_pk == Punch.pk)
                .where(delivered)
                .order_by(Punch.seq.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    if row is None:
        return {"delivered_count": 0, "delivered_seq": 0, "delivered_hash": None}
    record = punch_record(dict(row))
    return {
        "delivered_count": int(count),
        "delivered_seq": int(record["seq"]),
        "delivered_hash": record_hash(record),
    }


def _add(a: RoundResult, b: RoundResult) -> RoundResult:
    return RoundResult(
        delivered=a.delivered + b.delivered,
        duplicates=a.duplicates + b.duplicates,
        quarantined=a.quarantined + b.quarantined,
        batches=a.batches + b.batches,
        changes_applied=a.changes_applied + b.changes_applied,
        templates_uploaded=a.templates_uploaded + b.templates_uploaded,
    )


# Set by ``hadir sync register`` (and the set-up): the kiosk syncs from then
# on without ``[sync] enabled = true`` in the config.
SYNC_ENABLED_KEY = "sync_enabled"


def sync_enabled(cfg: SyncConfig, store: Store) -> bool:
    """``[sync] enabled`` in the config, or this kiosk was registered with a server."""
    return cfg.sync.enabled or store.state.get(SYNC_ENABLED_KEY) == "1"


def sync_server_url(cfg: SyncConfig) -> str:
    """``[sync] server_url``, else the address the kiosk registered with."""
    if cfg.sync.server_url:
        return cfg.sync.server_url
    try:
        creds = load_credentials(key_dir_for(cfg.data_dir, cfg.store))
    except CredentialsError:
        return ""
    return creds.server_url if creds is not None else ""


def build_worker(
    cfg: SyncConfig,
    store: Store,
    *,
    on_roster_changed: Callable[[], None] | None = None,
    central: CentralDocuments | None = None,
    on_rules_changed: Callable[[], None] | None = None,
    clock_trust: ClockTrust | None = None,
    clock_lock: threading.Lock | None = None,
) -> SyncWorker:
    """The sync worker of a kiosk from its config (``[sync]``): native or ADMS.

    The kiosk's composition root calls this, then ``start()`` if
    ``cfg.sync.enabled``; ``status()`` feeds the indicator and ``sync_now()``
    the "Sinkronkan sekarang" button.
    """
    section = cfg.sync
    adms = None
    if section.protocol == "adms":
        if not section.server_url or not section.adms_serial:
            raise ValueError('[sync] protocol = "adms" needs server_url and adms_serial')
        adms = AdmsSync(
            store,
            AdmsClient(section.server_url, section.adms_serial, timeout=section.timeout_seconds),
            opd_code=cfg.device.opd_code,
            batch_size=min(section.batch_size, 500),
            pin_file=section.adms_pin_file,
        )
    worker = SyncWorker(
        store,
        key_dir_for(cfg.data_dir, cfg.store),
        batch_size=section.batch_size,
        timeout_seconds=section.timeout_seconds,
        interval_seconds=section.interval_seconds,
        policy=RetryPolicy(max_backoff_seconds=section.max_backoff_seconds),
        on_roster_changed=on_roster_changed,
        central=central,
        on_rules_changed=on_rules_changed,
        clock_trust=clock_trust,
        clock_lock=clock_lock,
        adms=adms,
        max_in_flight=section.max_in_flight,
        ca_file=section.ca_file,
    )
    if not sync_enabled(cfg, store):
        worker._set(state="disabled", error=None)
    return worker
