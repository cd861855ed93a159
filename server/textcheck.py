"""Strings JSON can carry but UTF-8 cannot: lone surrogates (``"\\ud800"``).

``json.loads`` accepts an escaped lone surrogate and gives a ``str`` that
cannot be encoded, so the database (or the canonical bytes of a punch)
fails with ``UnicodeEncodeError``: one such record must be refused on its
own with the field's name, never fail the whole request with HTTP 500.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64


def has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def find_surrogate(value: Any, where: str = "body", depth: int = 0) -> str | None:
    """The path of the first string (or key) in a JSON value holding a lone surrogate."""
    if isinstance(value, str):
        return where if has_surrogate(value) else None
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and has_surrogate(key):
                return f"{where} (a key)"
            found = find_surrogate(item, f"{where}.{key}", depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = find_surrogate(item, f"{where}[{i}]", depth + 1)
            if found is not None:
                return found
    return None
