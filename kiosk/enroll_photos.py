"""``hadir enroll NIP PHOTO...`` and ``hadir enroll-photos DIR``: enrollment from ID photos.

``enroll-photos`` takes a folder of an OPD's ID photos named by NIP
(``NIP.jpg``, ``NIP_2.jpg``). Both run where ``recognition/`` may be
imported (a kiosk, or an office PC with the kiosk's data directory): the
server may not import the face pipeline (import-linter contract), so the
templates reach the server as kiosk enrollments do, through the outbox, and
the server's change feed brings them to the other kiosks.

For OPDs still being brought on: the photos pass the kiosk's quality gate
and duplicate check (:mod:`recognition.photo_enroll`), the accepted ones are
stored as templates of the configured model (sealed, queued for upload to
the server like a kiosk enrollment, so the feed delivers them to the other
kiosks), and the consent reference and the count are written to the audit
log. One report line per file: enrolled, no face, two faces, too small,
duplicate of NIP ..., unknown NIP, ...
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from hadir.command import (
    Command,
    CommandError,
    add_config_argument,
    add_data_dir_argument,
    config_from_args,
)
from hadir.config import HadirConfig

ACTOR = "cli-enroll"


def _args(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_data_dir_argument(parser)
    parser.add_argument("nip", help="18-digit NIP of the person (must be in the roster)")
    parser.add_argument("photos", nargs="+", type=Path, help="ID photos of that person")
    parser.add_argument(
        "--consent",
        required=True,
        metavar="REF",
        help="where the person's written consent is kept (form number, letter); audit-logged",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


class _Enroller:
    """The engine, the duplicate gallery and the store of one enrollment run."""

    def __init__(self, cfg: Any, store: Any) -> None:
        import numpy as np

        from recognition.faces import FaceEngine, FaceModels, ModelError, make_detector

        rec = cfg.recognition
        det = rec.detector
        try:
            models = FaceModels(model=rec.model)
            self.engine = FaceEngine(
                make_detector(
                    det.backend, det.yunet_model, det.detect_width, det.upsample, det.min_confidence
                ),
                models,
                rec.quality,
            )
        except ModelError as exc:
            raise CommandError(str(exc)) from None
        self.info = models.info
        self.store = store
        self.params = rec.enrollment
        # Duplicates are looked for among everyone on this kiosk, not only its OPD.
        rows = store.templates.all_for_scope(None, self.info.name, self.info.version)
        self.persons = [nip for nip, _, _ in rows]
        self.vectors = [v for _, _, v in rows]
        self._np = np

    def gallery(self) -> Any:
        from recognition.gallery import Gallery

        matrix = self._np.array(self.vectors, self._np.float32).reshape(-1, self.info.dim)
        return Gallery.from_arrays(self.persons, matrix, None, self.info.name, self.info.version)

    def enroll(self, nip: str, photos: list[Path], consent: str) -> list[Any]:
        from recognition.photo_enroll import PhotoResult, check_photo

        if self.store.employees.get(nip) is None:
            return [PhotoResult(p, f"unknown NIP {nip}") for p in photos]
        gallery = self.gallery()
        results = [check_photo(self.engine, gallery, nip, p, self.params) for p in photos]
        accepted = [r for r in results if r.vector is not None]
        for r in accepted:
            self.store.templates.add(
                nip, r.vector, self.info.name, self.info.version, quality=r.quality, source="kiosk"
            )
            self.persons.append(nip)
            self.vectors.append(r.vector)
        if accepted:
            self.store.audit.record(
                ACTOR,
                "enroll",
                target=nip,
                detail=f"photos: {len(accepted)} samples; consent: {consent}",
            )
        return results


def _open_store(cfg: Any) -> Any:
    from attendance.db import StoreError
    from attendance.store import Store

    try:
        return Store.from_config(cfg)
    except StoreError as exc:
        raise CommandError(str(exc)) from None


def _report(results: list[Any], as_json: bool, extra: dict[str, Any]) -> int:
    enrolled = sum(1 for r in results if r.outcome == "enrolled")
    if as_json:
        lines = [
            {"file": str(r.path), "outcome": r.outcome, "duplicate_of": r.duplicate_of}
            for r in results
        ]
        print(json.dumps({**extra, "enrolled": enrolled, "files": lines}))
    else:
        for r in results:
            print(r.line)
        print(f"{enrolled} of {len(results)} photos enrolled")
    return 0 if enrolled else 1


def _run(args: argparse.Namespace) -> int:
    from attendance.ids import validate_nip

    try:
        validate_nip(args.nip)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    consent = args.consent.strip()
    if not consent:
        raise CommandError("--consent must name where the person's consent is kept")
    cfg = config_from_args(args, HadirConfig)
    store = _open_store(cfg)
    try:
        results = _Enroller(cfg, store).enroll(args.nip, list(args.photos), consent)
    finally:
        store.close()
    return _report(results, args.json, {"nip": args.nip})


def _folder_args(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_data_dir_argument(parser)
    parser.add_argument(
        "dir", type=Path, help="ID photos named by NIP: NIP.jpg, or NIP_2.jpg for a second photo"
    )
    parser.add_argument(
        "--consent",
        required=True,
        metavar="REF",
        help="where the consent of the people in the folder is kept; audit-logged per person",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _folder_run(args: argparse.Namespace) -> int:
    from recognition.images import IMAGE_SUFFIXES
    from recognition.photo_enroll import PhotoResult

    consent = args.consent.strip()
    if not consent:
        raise CommandError("--consent must name where the people's consent is kept")
    if not args.dir.is_dir():
        raise CommandError(f"{args.dir} is not a folder")
    groups: dict[str, list[Path]] = {}
    results: list[Any] = []
    for path in sorted(p for p in args.dir.iterdir() if p.is_file()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        nip = re.split(r"[_-]", path.stem, maxsplit=1)[0]
        if not re.fullmatch(r"\d{18}", nip):
            results.append(PhotoResult(path, "unknown NIP (the file name is not an 18-digit NIP)"))
            continue
        groups.setdefault(nip, []).append(path)
    cfg = config_from_args(args, HadirConfig)
    store = _open_store(cfg)
    try:
        enroller = _Enroller(cfg, store)
        for nip, photos in groups.items():
            results += enroller.enroll(nip, photos, consent)
    finally:
        store.close()
    return _report(results, args.json, {"dir": str(args.dir)})


ENROLL_COMMAND = Command(
    help="enroll one person's face from ID photos (quality gate, duplicate check, consent)",
    add_arguments=_args,
    run=_run,
)

ENROLL_FOLDER_COMMAND = Command(
    help="enroll an OPD's faces from a folder of ID photos named by NIP (same checks as enroll)",
    add_arguments=_folder_args,
    run=_folder_run,
)
