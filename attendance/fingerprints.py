"""Which employee each slot of this kiosk's fingerprint module holds.

The module keeps the fingerprint templates itself (see
``recognition.fingerprint``); the kiosk only needs slot -> NIP to know whose
finger matched. The mapping lives in the kiosk database (``device_state``),
so it is covered by the same backups and by erasure: :meth:`release` returns
the slots of a person so the caller can delete them on the module too.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from attendance.ids import validate_nip

if TYPE_CHECKING:
    from attendance.store import DeviceStateStore

STATE_KEY = "fingerprint_slots"


def decode_slots(raw: str | None) -> dict[int, str]:
    return {int(k): str(v) for k, v in json.loads(raw).items()} if raw else {}


def encode_slots(slots: dict[int, str]) -> str:
    return json.dumps({str(k): v for k, v in sorted(slots.items())})


def without_person(slots: dict[int, str], nip: str) -> tuple[dict[int, str], tuple[int, ...]]:
    """(the slots kept, the slots of ``nip`` in order): erasure's view of the mapping."""
    gone = tuple(sorted(s for s, owner in slots.items() if owner == nip))
    return {s: owner for s, owner in slots.items() if owner != nip}, gone


class FingerprintSlots:
    def __init__(self, state: DeviceStateStore, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._state = state
        self.capacity = capacity
        self._lock = threading.Lock()

    def _load(self) -> dict[int, str]:
        return decode_slots(self._state.get(STATE_KEY))

    def _save(self, slots: dict[int, str]) -> None:
        self._state.set(STATE_KEY, encode_slots(slots))

    def nip_of(self, slot: int) -> str | None:
        return self._load().get(slot)

    def slots_of(self, nip: str) -> list[int]:
        return sorted(s for s, n in self._load().items() if n == nip)

    def all(self) -> dict[int, str]:
        return self._load()

    def reserve(self, nip: str) -> int:
        """The lowest free slot, now assigned to ``nip``. Call :meth:`release_slot`
        if enrolling on the module then fails."""
        validate_nip(nip)
        with self._lock:
            slots = self._load()
            free = next((s for s in range(self.capacity) if s not in slots), None)
            if free is None:
                raise ValueError(f"all {self.capacity} fingerprint slots are in use")
            slots[free] = nip
            self._save(slots)
            return free

    def release_slot(self, slot: int) -> None:
        with self._lock:
            slots = self._load()
            if slots.pop(slot, None) is not None:
                self._save(slots)

    def release(self, nip: str) -> list[int]:
        """Forget every slot of ``nip``; returns them (to delete on the module)."""
        with self._lock:
            kept, gone = without_person(self._load(), nip)
            if gone:
                self._save(kept)
            return list(gone)
