"""Devices: kiosks (last seen, queue, clock, version, sequence gaps, revoke) and ADMS machines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from server.console import scope
from server.console.accounts import Principal
from server.console.web import Console
from server.models import Punch
from server.timeutil import format_optional, format_utc

SILENT_AFTER = timedelta(hours=1)


def register(console: Console) -> None:
    svc = console.services

    def devices_data(p: Principal) -> dict[str, Any]:
        now = console.now()
        kiosks = []
        for dev in svc.devices.list_devices():
            if not scope.sees_all(p) and dev["opd_code"] != p.opd_code:
                continue
            health = dev.get("health") or {}
            last_seen = dev.get("last_seen_utc")
            silent = last_seen is None or last_seen < format_utc(now - SILENT_AFTER)
            kiosks.append(
                {
                    "device_id": dev["device_id"],
                    "opd_code": dev["opd_code"],
                    "status": dev["status"],
                    "last_seen_utc": last_seen,
                    "silent": silent and dev["status"] == "active",
                    "queue_length": health.get("queue_length"),
                    "clock_state": health.get("clock_state"),
                    "clock_offset_seconds": health.get("clock_offset_seconds"),
                    "version": health.get("version"),
                    "punches": dev["punches"],
                    "last_seq": dev["last_seq"],
                    "gaps": dev["gaps"],
                    "flagged": dev["flagged"],
                    "can_revoke": dev["status"] == "active"
                    and scope.can_revoke_device(p, dev["opd_code"]),
                }
            )
        adms: list[dict[str, Any]] = []
        if scope.sees_all(p):
            with svc.db.read() as conn:
                stats = {
                    row.device_id: row
                    for row in conn.execute(
                        select(
                            Punch.device_id,
                            func.count().label("n"),
                            func.max(Punch.received_utc).label("last"),
                        )
                        .where(Punch.source == "adms")
                        .group_by(Punch.device_id)
                    )
                }
            allowed = set(svc.settings.adms_serials)
            for serial in sorted(allowed | set(stats)):
                st = stats.get(serial)
                adms.append(
                    {
                        "serial": serial,
                        "allowed": serial in allowed,
                        "punches": int(st.n) if st else 0,
                        "last_punch_received_utc": format_optional(st.last) if st else None,
                        "users": len(svc.adms.device_users(serial)),
                        "commands": svc.adms.command_list(serial)[-5:],
                    }
                )
        return {
            "kiosks": kiosks,
            "adms": adms,
            "can_create_code": scope.can_manage_roster(p),
            "generated_utc": format_utc(now),
        }

    def devices(request: Request) -> Response:
        p = console.principal(request)
        scope.require(scope.can_see_devices(p), "see devices")
        return console.render(request, p, "devices.html", devices_data(p))

    async def revoke(request: Request, device_id: str) -> Response:
        p = await console.changing(request)
        opd = next(
            (d["opd_code"] for d in svc.devices.list_devices() if d["device_id"] == device_id),
            None,
        )
        if opd is None:
            from server.errors import not_found

            raise not_found(f"no device {device_id!r}")
        scope.require(scope.can_revoke_device(p, opd), f"revoke devices of OPD {opd}")
        svc.devices.revoke(device_id, console.now())
        console.audit(p, request, "device_revoke", device_id, {"opd_code": opd})
        return RedirectResponse("/devices", 303)

    async def enrollment_code(request: Request) -> Response:
        p = await console.changing(request)
        form = await request.form()
        opd = str(form.get("opd_code", "")).strip() if scope.sees_all(p) else (p.opd_code or "")
        scope.require(scope.can_manage_roster(p, opd), f"create enrollment codes for OPD {opd}")
        try:
            hours = int(str(form.get("hours", "72")))
        except ValueError:
            hours = -1
        if not 1 <= hours <= 24 * 90:
            from server.errors import invalid

            raise invalid("hours: a whole number from 1 to 2160")
        code, expires = svc.devices.create_enrollment_code(opd, console.now(), hours)
        console.audit(p, request, "enrollment_code", opd, {"hours": hours})
        data = devices_data(p)
        data["new_code"] = {"code": code, "opd_code": opd, "expires_utc": format_utc(expires)}
        return console.render(request, p, "devices.html", data, status=201)

    console.page("/devices", devices)
    console.action("/devices/{device_id}/revoke", revoke)
    console.action("/devices/enrollment-code", enrollment_code)
