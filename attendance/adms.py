"""The ZKTeco ADMS ("iclock") text fields that both ends of the protocol read.

The kiosk's ADMS client (``sync/adms.py``) and the server's ADMS ingest
(``server/adms.py``) parse the same TAB separated ``key=value`` records
(``USER PIN=1\\tName=Budi``, ``DATA UPDATE USERINFO PIN=..``); they share
this one parser.
"""

from __future__ import annotations


def parse_key_values(text: str) -> dict[str, str]:
    """``PIN=1\\tName=Budi\\tPri=0`` -> dict; parts without ``=`` are skipped."""
    out: dict[str, str] = {}
    for part in text.split("\t"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out
