"""``hadir templates status|drop``: face templates per model on this kiosk.

``status`` shows, per home OPD of the active staff, how many people have
templates of each embedding model (the migration's progress, see
``recognition/migration.py``); ``drop --model NAME`` deletes every template
of a model that is no longer used (never the configured ``[recognition]
model``), audit-logged. It lives in ``kiosk/`` because it reads both the
store's settings and ``[recognition] model``.
"""

from __future__ import annotations

import argparse
import json

from hadir.command import (
    Command,
    CommandError,
    add_config_argument,
    add_data_dir_argument,
    config_from_args,
)
from hadir.config import HadirConfig


def _args(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_data_dir_argument(parser)
    parser.add_argument(
        "action",
        choices=("status", "drop"),
        help="status: people with templates of each model per OPD; drop: delete the "
        "templates of --model",
    )
    parser.add_argument("--model", help="drop: the model whose templates are deleted")
    parser.add_argument("--actor", default="cli", help="drop: who asked (audit log)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _run(args: argparse.Namespace) -> int:
    from attendance.db import StoreError
    from attendance.store import Store

    cfg = config_from_args(args, HadirConfig)
    if args.action == "drop":
        if not args.model:
            raise CommandError("templates drop needs --model NAME")
        if args.model == cfg.recognition.model:
            raise CommandError(
                f"--model {args.model} is the model this kiosk matches with "
                "([recognition] model); switch the model first"
            )
    try:
        store = Store.from_config(cfg)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    try:
        if args.action == "drop":
            ids = store.templates.delete_model(args.model)
            store.audit.record(
                args.actor, "templates_dropped", detail=f"model={args.model} count={len(ids)}"
            )
            out: dict[str, object] = {"model": args.model, "deleted": len(ids)}
        else:
            out = {"model": cfg.recognition.model, "opds": store.templates.coverage()}
    finally:
        store.close()
    if args.json:
        print(json.dumps(out, sort_keys=True))
    elif args.action == "drop":
        print(f"deleted {out['deleted']} templates of model {args.model}")
    else:
        _print_status(cfg.recognition.model, out["opds"])  # type: ignore[arg-type]
    return 0


def _print_status(current: str, opds: dict[str, dict[str, int]]) -> None:
    models = sorted({m for row in opds.values() for m in row if m != "people"})
    print(f"matching with: {current}")
    if not opds:
        print("no staff on this kiosk")
        return
    print("OPD".ljust(20) + "people".rjust(8) + "".join(m[:34].rjust(36) for m in models))
    for opd, row in opds.items():
        cells = ""
        for m in models:
            n = row.get(m, 0)
            share = f"{n} ({100 * n / row['people']:.0f} %)" if row["people"] else str(n)
            cells += share.rjust(36)
        print(opd[:20].ljust(20) + str(row["people"]).rjust(8) + cells)


TEMPLATES_COMMAND = Command(
    help="face templates per embedding model: status per OPD, or drop an unused model's",
    add_arguments=_args,
    run=_run,
)
