"""Dropping the old model's templates everywhere: server deletes, the feed carries it,
and a kiosk applying the feed deletes its copies (the last step of the migration)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, select

from hadir.cli import main
from recognition.modelinfo import DLIB_NAME, DLIB_VERSION, REID_NAME, REID_VERSION
from server.db import Database, open_database
from server.models import AuditEntry, Change, Template
from server.template_admin import drop_model_templates
from server.trust import load_server_keys

NIP = "198703152010011002"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC).replace(tzinfo=None)


def _add(db: Database, model: str, version: str, dim: int) -> str:
    tid = str(uuid.uuid4())
    with db.write() as conn:
        conn.execute(
            insert(Template).values(
                template_id=tid,
                nip=NIP,
                model_name=model,
                model_version=version,
                vector=np.zeros(dim, "<f4").tobytes(),
                source_device="kiosk-01",
                created_utc=NOW,
                received_utc=NOW,
            )
        )
    return tid


def _feed(db: Database) -> list[dict[str, Any]]:
    """Every change row as a kiosk would decode it (the per-kiosk filter aside)."""
    with db.read() as conn:
        rows = conn.execute(
            select(Change.kind, Change.key, Change.op, Change.data).order_by(Change.seq)
        ).all()
    return [
        {"kind": r.kind, "key": r.key, "op": r.op, "data": json.loads(r.data) if r.data else None}
        for r in rows
    ]


def test_drop_deletes_one_model_and_publishes_deletes(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'server.db'}")
    try:
        old = [_add(db, DLIB_NAME, DLIB_VERSION, 128) for _ in range(3)]
        new = _add(db, REID_NAME, REID_VERSION, 256)
        keys = load_server_keys(tmp_path / "keys", db)
        before = _feed(db)
        assert drop_model_templates(db, keys, DLIB_NAME, NOW) == 3
        with db.read() as conn:
            left = conn.execute(select(Template.template_id, Template.model_name)).all()
        assert [tuple(r) for r in left] == [(new, REID_NAME)]
        feed = _feed(db)
        deletes = {c["key"]: c for c in feed if c["kind"] == "template" and c["op"] == "delete"}
        assert set(deletes) == set(old)
        assert all(c["data"] == {"template_id": k, "nip": NIP} for k, c in deletes.items())
        assert len(feed) > len(before)
        with db.read() as conn:
            erased = conn.execute(
                select(AuditEntry.subject).where(AuditEntry.action == "template_erase")
            ).all()
        assert [r[0] for r in erased] == [NIP]
        assert drop_model_templates(db, keys, DLIB_NAME, NOW) == 0
    finally:
        db.dispose()


def test_drop_templates_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cmd.db'}"
    db = open_database(url)
    try:
        _add(db, DLIB_NAME, DLIB_VERSION, 128)
    finally:
        db.dispose()
    assert main(["server", "drop-templates", "--database-url", url, "--model", DLIB_NAME]) == 0
    out = capsys.readouterr().out
    assert f"deleted 1 templates of model {DLIB_NAME}" in out
