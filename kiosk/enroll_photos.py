"""``hadir enroll NIP PHOTO... --consent REF``: enroll a person from ID photos at a kiosk.

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
import dataclasses
import json
from pathlib import Path

from hadir.command import (
    Command,
    CommandError,
    add_config_argument,
    add_data_dir_argument,
    config_from_args,
)

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


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from attendance.db import StoreError
    from attendance.ids import validate_nip
    from attendance.store import Store
    from recognition.enrollment import EnrollmentParams
    from recognition.faces import FaceEngine, FaceModels, ModelError, make_detector
    from recognition.gallery import Gallery
    from recognition.photo_enroll import PhotoResult, check_photo
    from recognition.quality import QualityParams

    try:
        validate_nip(args.nip)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if not args.consent.strip():
        raise CommandError("--consent must name where the person's consent is kept")
    cfg = config_from_args(args)
    rec = cfg.recognition
    try:
        store = Store.from_config(cfg)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    results: list[PhotoResult] = []
    try:
        if store.employees.get(args.nip) is None:
            results = [PhotoResult(p, f"unknown NIP {args.nip}") for p in args.photos]
        else:
            det = rec.detector
            try:
                models = FaceModels(model=rec.model)
                engine = FaceEngine(
                    make_detector(
                        det.backend,
                        det.yunet_model,
                        det.detect_width,
                        det.upsample,
                        det.min_confidence,
                    ),
                    models,
                    QualityParams(**dataclasses.asdict(rec.quality)),
                )
            except ModelError as exc:
                raise CommandError(str(exc)) from None
            info = models.info
            # Duplicates are looked for among everyone on this kiosk, not only its OPD.
            rows = store.templates.all_for_scope(None, info.name, info.version)
            gallery = Gallery.from_arrays(
                [nip for nip, _, _ in rows],
                np.array([v for _, _, v in rows], np.float32).reshape(-1, info.dim),
                [tid for _, tid, _ in rows],
                info.name,
                info.version,
            )
            params = EnrollmentParams(**dataclasses.asdict(rec.enrollment))
            for path in args.photos:
                results.append(check_photo(engine, gallery, args.nip, path, params))
            accepted = [r for r in results if r.vector is not None]
            for r in accepted:
                assert r.vector is not None
                store.templates.add(
                    args.nip, r.vector, info.name, info.version, quality=r.quality, source="kiosk"
                )
            if accepted:
                store.audit.record(
                    ACTOR,
                    "enroll",
                    target=args.nip,
                    detail=f"photos: {len(accepted)} samples; consent: {args.consent.strip()}",
                )
    finally:
        store.close()
    enrolled = sum(1 for r in results if r.outcome == "enrolled")
    if args.json:
        lines = [
            {"file": str(r.path), "outcome": r.outcome, "duplicate_of": r.duplicate_of}
            for r in results
        ]
        print(json.dumps({"nip": args.nip, "enrolled": enrolled, "files": lines}))
    else:
        for r in results:
            print(r.line)
        print(f"{enrolled} of {len(results)} photos enrolled for NIP {args.nip}")
    return 0 if enrolled else 1


ENROLL_COMMAND = Command(
    help="enroll one person's face from ID photos (quality gate, duplicate check, consent)",
    add_arguments=_args,
    run=_run,
)
