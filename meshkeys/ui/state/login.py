"""/login: sign in, or create the first admin on an empty database.

The password never goes through the websocket: the form is posted by the browser
to ``/auth/login`` (or ``/auth/setup``), whose answer sets the HttpOnly session
cookie. This state only knows which form to show and the message to display.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from meshkeys.services import auth
from meshkeys.services.uow import UnitOfWork
from meshkeys.ui.state.session import SessionState
from meshkeys.web_session import safe_next


class LoginState(SessionState):
    needs_setup: bool = False
    checked: bool = False
    error: str = ""
    # The page asked for before signing in (a path of this site only), posted with the form.
    next_path: str = ""

    @rx.event
    def load(self):
        self.error = ""
        self.busy = ""
        with UnitOfWork() as uow:
            self.needs_setup = auth.needs_setup(uow)
            digest = self._session_token()
            signed_in = auth.actor_for_session_digest(uow, digest=digest) is not None
        self.checked = True
        self.next_path = safe_next(self.router.url.query_parameters.get("next"), default="")
        if signed_in and not self.needs_setup:
            return rx.redirect(self.next_path or "/")
        return None

    @rx.event
    def start(self):
        self.busy = "login"
        self.error = ""

    @rx.event
    def finished(self, result: dict[str, Any] | None):
        """Callback of the browser's POST: on success the browser is already navigating."""
        result = result or {}
        if result.get("ok"):
            return None
        self.busy = ""
        self.error = str(result.get("detail") or "Sign-in failed; try again.")[:500]
        return rx.toast.error(self.error)
