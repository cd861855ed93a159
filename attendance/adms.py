"""The ZKTeco ADMS ("iclock") text fields that both ends of the protocol read.

The kiosk's ADMS client (``sync/adms.py``) and the server's ADMS ingest
(``server/adms_parse.py``, ``server/adms_http.py``) parse the same
``key=value`` records (``USER PIN=1\\tName=Budi``, ``DATA UPDATE USERINFO
PIN=..``, push 3.x ATTLOG lines); they share this one parser.
"""

from __future__ import annotations

import re

_KV_SPACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*?)(?=\s+[A-Za-z_][A-Za-z0-9_]*=|$)")


def parse_key_values(text: str) -> dict[str, str]:
    """``PIN=1\\tName=Budi Santoso\\tPri=0`` (or space separated) -> dict, keys as sent.

    TAB separated parts without ``=`` (or with an empty key) are skipped.
    """
    out: dict[str, str] = {}
    if "\t" in text:
        for part in text.split("\t"):
            key, sep, value = part.partition("=")
            if sep and key.strip():
                out[key.strip()] = value.strip()
        return out
    for m in _KV_SPACED.finditer(text.strip()):
        out[m.group(1)] = m.group(2).strip()
    return out
