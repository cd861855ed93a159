"""What the central server signs for a kiosk, byte for byte (shared by ``server`` and ``sync``).

The server has its own Ed25519 key; a kiosk learns the public half at
registration and from then on believes only what that key signed:

* each change-feed entry: ``{"device_id", "seq", "kind", "key", "op", "data"}``
  bound to the kiosk it was served to, so an entry cannot be replayed to
  another kiosk or moved to another position of the feed;
* each punch batch acknowledgement: the device id, the server time of the
  answer and every ``id:status`` in order, so a man in the middle cannot tell
  the kiosk "accepted" for punches the server never saw.

Canonical bytes are UTF-8 JSON with sorted keys and no spaces, as for punches
(:mod:`attendance.integrity`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FEED_CONTEXT = "hadir-feed-v1"
ACK_CONTEXT = "hadir-ack-v1"


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def feed_entry_bytes(device_id: str, entry: Mapping[str, Any]) -> bytes:
    """The signed bytes of one change served to ``device_id``."""
    return _canonical(
        {
            "ctx": FEED_CONTEXT,
            "device_id": device_id,
            "seq": entry.get("seq"),
            "kind": entry.get("kind"),
            "key": entry.get("key"),
            "op": entry.get("op"),
            "data": entry.get("data"),
        }
    )


def ack_bytes(device_id: str, server_time: str | None, results: Sequence[tuple[str, str]]) -> bytes:
    """The signed bytes of a punch batch answer: ``(id, status)`` pairs in order."""
    return _canonical(
        {
            "ctx": ACK_CONTEXT,
            "device_id": device_id,
            "server_time": server_time,
            "results": [f"{rid}:{status}" for rid, status in results],
        }
    )


def sign_bytes(key: Ed25519PrivateKey, data: bytes) -> str:
    return key.sign(data).hex()


def signature_ok(public_key: Ed25519PublicKey, signature: Any, data: bytes) -> bool:
    """True only for a hex Ed25519 signature of ``data`` by ``public_key``."""
    if not isinstance(signature, str) or len(signature) != 128:
        return False
    try:
        public_key.verify(bytes.fromhex(signature), data)
    except (ValueError, InvalidSignature):
        return False
    return True
