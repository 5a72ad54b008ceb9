"""Who may do what in a consultation.

- read (the thread, its files, its live socket): a participant, or an officer,
  analyst or responder whose scope covers one of its jurisdictions;
- post messages and upload files: a participant, or an officer in scope
  (who joins by posting);
- open, invite, decide and close: an officer in scope; a warning-changing
  decision is then performed with the same rules as POST /warnings/{id}/actions.

The live socket follows the issue's narrower rule: participants and officers
in scope. Refusals say who the caller is and why (403); a consultation that
does not exist is 404 whoever asks.
"""

from __future__ import annotations

from api.auth.roles import Permission, Principal, provinces_of
from api.errors import OutsideScope, RoleNotAllowed
from store.consultations import Access


def _where(access: Access) -> str:
    return ", ".join(provinces_of(access.adcodes)) or "no province"


def _refuse_outside(user: Principal, access: Access, verb: str) -> None:
    if not user.allows(access.adcodes):
        raise OutsideScope(f"{user.label} may not {verb} consultation {access.id}: it concerns "
                           f"{_where(access)} and {user.name} is not a participant")


def check_read(user: Principal, access: Access) -> None:
    if user.name in access.participants:
        return
    _refuse_outside(user, access, "read")


def check_post(user: Principal, access: Access) -> None:
    if user.name in access.participants:
        return
    if not user.can(Permission.act):
        raise RoleNotAllowed(f"{user.label} may post only in consultations it is invited to; "
                             f"{user.name} is not a participant of {access.id}")
    _refuse_outside(user, access, "post in")


def check_officer(user: Principal, access: Access, verb: str) -> None:
    """``verb`` e.g. 'invite to', 'decide in', 'close'."""
    if not user.can(Permission.act):
        raise RoleNotAllowed(f"{user.label} may not {verb} consultations: only warning "
                             "officers may")
    if not user.allows(access.adcodes):
        raise OutsideScope(f"{user.label} may not {verb} consultation {access.id}: it concerns "
                           f"{_where(access)}")


def check_socket(user: Principal, access: Access) -> None:
    if user.name in access.participants:
        return
    if not user.can(Permission.act):
        raise RoleNotAllowed(f"{user.label} may follow consultation {access.id} live only "
                             "as a participant")
    _refuse_outside(user, access, "follow")
