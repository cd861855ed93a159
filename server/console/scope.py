"""Who may see and change what: every page and JSON twin asks these before reading.

The rules (issue #11): the superadmin (BKPSDM) sees and changes everything;
the auditor sees everything and changes nothing; an OPD operator and the head
of an OPD see their own OPD only (the operator keeps the roster and devices,
the head decides leave and corrections); an employee sees their own days.
"""

from __future__ import annotations

from server.console.accounts import Principal
from server.errors import ApiError

SEE_ALL = frozenset({"superadmin", "auditor"})
OPD_ROLES = frozenset({"operator", "head"})


class ForbiddenError(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(403, "forbidden", detail)


def sees_all(p: Principal) -> bool:
    return p.role in SEE_ALL


def can_see_opd(p: Principal, opd_code: str) -> bool:
    return sees_all(p) or (p.role in OPD_ROLES and p.opd_code == opd_code)


def can_see_employee(p: Principal, nip: str, opd_code: str | None) -> bool:
    if sees_all(p):
        return True
    if p.role in OPD_ROLES:
        return opd_code is not None and p.opd_code == opd_code
    return p.role == "employee" and p.nip == nip


def can_manage_roster(p: Principal, opd_code: str | None = None) -> bool:
    if p.role == "superadmin":
        return True
    return p.role == "operator" and (opd_code is None or p.opd_code == opd_code)


def can_see_devices(p: Principal) -> bool:
    return sees_all(p) or p.role == "operator"


def can_revoke_device(p: Principal, opd_code: str) -> bool:
    return p.role == "superadmin" or (p.role == "operator" and p.opd_code == opd_code)


def can_decide(p: Principal, opd_code: str) -> bool:
    """Approve or reject leave and corrections."""
    return p.role == "superadmin" or (p.role == "head" and p.opd_code == opd_code)


def can_see_snapshots(p: Principal, opd_code: str | None) -> bool:
    """Face snapshots of punches: BKPSDM and the head of the person's OPD only."""
    return p.role == "superadmin" or (p.role == "head" and p.opd_code == opd_code)


def can_edit_documents(p: Principal) -> bool:
    return p.role == "superadmin"


def can_see_documents(p: Principal) -> bool:
    return sees_all(p)


def can_see_audit(p: Principal) -> bool:
    return sees_all(p)


def can_manage_accounts(p: Principal) -> bool:
    return p.role == "superadmin"


def require(allowed: bool, what: str) -> None:
    if not allowed:
        raise ForbiddenError(f"your account may not {what}")
