"""Roles, what each may do, and the provincial scope.

=====================  ====  ===  ======  =======  ========  ==================================
role                   read  act  review  reports  readings  scope
=====================  ====  ===  ======  =======  ========  ==================================
national_officer       yes   yes  yes     yes      yes       the whole country
provincial_officer     yes   yes  yes     yes      no        its provinces (one or more adcodes)
analyst                yes   no   yes     yes      no        the country, or the provinces given
responder              yes   no   no      no       no        the country, or the provinces given
sensor_gateway         no    no   no      no       yes       -
=====================  ====  ===  ======  =======  ========  ==================================

"read" is risk points, warnings and the live push; "act" is raising warnings
and acting on them; "review" is accepting or rejecting the candidate risk
areas that InSAR finds (remote-sensing analysts' work, and officers'). A scoped user sees and acts on the warnings that concern
its provinces: those at their points, and those near their borders
(``store.jurisdictions``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from api.errors import OutsideScope, RoleNotAllowed


class Role(StrEnum):
    national_officer = "national_officer"
    provincial_officer = "provincial_officer"
    analyst = "analyst"
    responder = "responder"
    sensor_gateway = "sensor_gateway"


class Permission(StrEnum):
    read = "read risk points and warnings"
    act = "act on warnings"
    review = "accept or reject candidate areas"
    reports = "read reports"
    publish_readings = "publish readings"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.national_officer: frozenset(Permission),
    Role.provincial_officer: frozenset({Permission.read, Permission.act, Permission.review,
                                        Permission.reports}),
    Role.analyst: frozenset({Permission.read, Permission.review, Permission.reports}),
    Role.responder: frozenset({Permission.read}),
    Role.sensor_gateway: frozenset({Permission.publish_readings}),
}


def check_role_scope(role: Role, provinces: Sequence[str]) -> None:
    """Refuse a role and province list that do not fit together (ValueError says why)."""
    if role == Role.provincial_officer and not provinces:
        raise ValueError("a provincial_officer needs at least one --province (adcode)")
    if role in (Role.national_officer, Role.sensor_gateway) and provinces:
        raise ValueError(f"a {role} has no provinces: its scope is national")
    for adcode in provinces:
        if not (adcode.isdigit() and len(adcode) == 6 and adcode.endswith("0000")):
            raise ValueError(f"{adcode!r} is not a province adcode (six digits ending in 0000, "
                             "e.g. 510000)")


def provinces_of(adcodes: Collection[str]) -> list[str]:
    """The province adcodes among ``adcodes`` (county adcodes name their province's too)."""
    return sorted({a[:2] + "0000" for a in adcodes if a and a[:2].isdigit()})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``provinces`` empty: national scope."""

    name: str
    role: Role
    provinces: frozenset[str] = frozenset()
    via: str = "jwt"

    @property
    def scope(self) -> frozenset[str] | None:
        """Adcodes the caller is limited to, or None for the whole country."""
        return self.provinces or None

    @property
    def label(self) -> str:
        words = self.role.value.replace("_", " ")
        return f"{words} of {', '.join(sorted(self.provinces))}" if self.provinces else words

    def can(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    def require(self, permission: Permission) -> Principal:
        if not self.can(permission):
            allowed = PERMISSIONS[self.role]
            hint = (" (the role is read-only)" if allowed == {Permission.read} else
                    " (it may only publish readings)" if allowed == {Permission.publish_readings}
                    else "")
            raise RoleNotAllowed(f"{self.label} may not {permission.value}{hint}")
        return self

    def allows(self, adcodes: Collection[str]) -> bool:
        return self.scope is None or bool(self.scope & set(adcodes))

    def check_scope(self, adcodes: Collection[str], verb: str, what: str = "warnings") -> None:
        """403 unless one of ``adcodes`` (a warning's or point's jurisdictions) is in scope."""
        if not self.allows(adcodes):
            where = ", ".join(provinces_of(adcodes)) or "no province"
            raise OutsideScope(f"{self.label} may not {verb} {what} of {where}")
