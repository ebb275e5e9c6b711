"""/invite/[invite_token]: the page of a one-time invite link.

It shows whom the link invites, to which project and with which role, or why the link cannot
be used. The password never goes through the websocket: the browser posts the form to
``/auth/invite`` (``services.invites.accept_invite``), whose answer sets the session cookie.
No var of this state holds the token: it is in the page's address (and so in Reflex's router
data, as any address is); used once, it is worthless.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from meshkeys.services import invites
from meshkeys.services.errors import DomainError
from meshkeys.services.uow import UnitOfWork
from meshkeys.ui.state.session import SessionState, fmt_time


class InviteState(SessionState):
    checked: bool = False
    # Why the link cannot be used ("" when it can).
    invalid: str = ""
    project_name: str = ""
    email: str = ""
    invited_role: str = ""
    expires: str = ""
    error: str = ""

    def _token(self) -> str:
        return str(self._page_params().get("invite_token", "") or "")[:200]

    @rx.event
    def load(self):
        self.checked, self.invalid, self.error, self.busy = False, "", "", ""
        self.project_name = self.email = self.invited_role = self.expires = ""
        try:
            with UnitOfWork(request=self._request_info()) as uow:
                preview = invites.preview_invite(uow, token=self._token())
        except DomainError as exc:
            self.invalid = exc.message
        else:
            self.project_name = preview.project_name
            self.email = preview.email
            self.invited_role = str(preview.role)
            self.expires = fmt_time(preview.expires_at)
        self.checked = True

    @rx.event
    def start(self):
        self.busy = "accept"
        self.error = ""

    @rx.event
    def finished(self, result: dict[str, Any] | None):
        """Callback of the browser's POST: on success the browser is already navigating."""
        result = result or {}
        if result.get("ok"):
            return None
        self.busy = ""
        self.error = str(result.get("detail") or "The invite could not be used; try again.")[:500]
        return rx.toast.error(self.error)
