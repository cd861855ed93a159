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
from server.trust import ServerKeys, audit

log = logging.getLogger(__name__)


def drop_model_templates(
    db: Database, keys: ServerKeys, model_name: str, now: datetime, actor: str = "cli"
) -> int:
    """Delete every template of ``model_name``; one feed ``delete`` each. Returns the count.

    The erasure is audit-logged per person (``template_erase``), like
    :meth:`server.roster.Roster.erase_biometrics`.
    """
    roster = Roster(db, keys)
    with db.write() as conn:
        rows = conn.execute(
            select(Template.template_id, Template.nip).where(Template.model_name == model_name)
        ).all()
        conn.execute(delete(Template).where(Template.model_name == model_name))
        per_person: dict[str, int] = {}
        for tid, nip in rows:
            roster.publish(
                conn, "template", tid, "delete", {"template_id": tid, "nip": nip}, now, nip=nip
            )
            per_person[nip] = per_person.get(nip, 0) + 1
        for nip, count in sorted(per_person.items()):
            audit(
                conn, now, actor, "template_erase", nip, {"templates": count, "model": model_name}
            )
    log.info("templates of a model dropped", extra={"model": model_name, "count": len(rows)})
    return len(rows)
