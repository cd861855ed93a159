"""Dropping the old model's templates everywhere: server deletes, the feed carries it,
and a kiosk applying the feed deletes its copies (the last step of the migration)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select

from hadir.cli import main
from recognition.modelinfo import DLIB_NAME, DLIB_VERSION, REID_NAME, REID_VERSION
from server.db import Database, open_database
from server.models import Template
from server.roster import Roster
from server.template_admin import drop_model_templates

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


def test_drop_deletes_one_model_and_publishes_deletes(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'server.db'}")
    try:
        old = [_add(db, DLIB_NAME, DLIB_VERSION, 128) for _ in range(3)]
        new = _add(db, REID_NAME, REID_VERSION, 256)
        before = Roster(db).changes(0, 1000)
        assert drop_model_templates(db, DLIB_NAME, NOW) == 3
        with db.read() as conn:
            left = conn.execute(select(Template.template_id, Template.model_name)).all()
        assert [tuple(r) for r in left] == [(new, REID_NAME)]
        feed = Roster(db).changes(0, 1000)
        deletes = {
            c["key"]: c for c in feed["changes"] if c["kind"] == "template" and c["op"] == "delete"
        }
        assert set(deletes) == set(old)
        assert all(c["data"] == {"template_id": k, "nip": NIP} for k, c in deletes.items())
        assert len(feed["changes"]) >= len(before["changes"])
        assert drop_model_templates(db, DLIB_NAME, NOW) == 0
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
