"""Dropping an embedding model's templates everywhere, through the change feed.

After every kiosk has switched ``[recognition] model`` to the new model
(see ``recognition/migration.py``), the old model's templates are only
biometric data kept for nothing: ``hadir server drop-templates --model M``
deletes them on the server and publishes one ``delete`` change per
template, so each kiosk's sync deletes its copy too.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, select

from server.db import Database
from server.models import Template
from server.roster import Roster

log = logging.getLogger(__name__)


def drop_model_templates(db: Database, model_name: str, now: datetime) -> int:
    """Delete every template of ``model_name``; one feed ``delete`` each. Returns the count."""
    roster = Roster(db)
    with db.write() as conn:
        rows = conn.execute(
            select(Template.template_id, Template.nip).where(Template.model_name == model_name)
        ).all()
        conn.execute(delete(Template).where(Template.model_name == model_name))
        for tid, nip in rows:
            roster.publish(conn, "template", tid, "delete", {"template_id": tid, "nip": nip}, now)
    log.info("templates of a model dropped", extra={"model": model_name, "count": len(rows)})
    return len(rows)
