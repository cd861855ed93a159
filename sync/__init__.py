"""Delivering punches to the central server exactly once (headless; imports attendance only).

Public API for the kiosk's composition root:

* :func:`sync.worker.build_worker` ``(cfg, store, on_roster_changed=, clock_trust=,
  clock_lock=) -> SyncWorker`` - native or ADMS from ``[sync]``;
* :class:`sync.worker.SyncWorker` - ``start()``, ``stop()``, ``sync_now()``,
  ``status() -> SyncStatus`` (thread-safe), ``run_once()``;
* :class:`sync.worker.SyncStatus` - ``state`` (idle / online / offline /
  unregistered / disabled), ``pending``, ``oldest_pending_utc``, ``quarantined``,
  ``last_success_utc``, ``last_error``, ``text`` (one line in Bahasa Indonesia).

Modules: ``retry`` (policy and error kinds), ``client`` (native JSON protocol),
``adms`` (ZKTeco ADMS client mode), ``credentials`` (device token file),
``worker``, ``faultproxy`` (fault-injecting proxy for drills and tests),
``serverproc`` / ``simkiosk`` / ``loadtest`` (``hadir loadtest``).
"""
