"""The kiosk's side of the model migration (see :mod:`recognition.migration`):
storing the new model's templates that punches teach, audit-logged."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from attendance.store import Store

log = logging.getLogger(__name__)

MIGRATION_ACTOR = "kiosk-migration"


class MigratedTemplates:
    """Adds a new-model template for a person, at most ``max_templates`` of them.

    The template is sealed like every other (``TemplateStore.add``), marked
    for upload through the outbox (source ``kiosk``), and the addition is
    written to the audit log (person and model, never the vector).
    """

    def __init__(self, store: Store, model: tuple[str, str], max_templates: int) -> None:
        self.store = store
        self.model_name, self.model_version = model
        self.max_templates = max_templates
        self.added = 0

    def add(self, nip: str, vector: npt.NDArray[np.float32], quality: float) -> bool:
        if self.store.templates.count_of_model(nip, self.model_name) >= self.max_templates:
            return False
        self.store.templates.add(
            nip, vector, self.model_name, self.model_version, quality=quality, source="kiosk"
        )
        self.store.audit.record(
            MIGRATION_ACTOR,
            "template_migrated",
            target=nip,
            detail=f"model={self.model_name} version={self.model_version}",
        )
        self.added += 1
        log.info("a punch added a %s template for one person", self.model_name)
        return True
