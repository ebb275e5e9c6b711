"""The 404 page: inside the layout when signed in, with a way back either way."""

from __future__ import annotations

import reflex as rx

from meshkeys.services.errors import DomainError
from meshkeys.ui.state.session import SessionState, SignedOut


class NotFoundState(SessionState):
    signed_in: bool = False

    @rx.event
    def load(self):
        """The navigation of a signed-in user; a signed-out visitor gets the way to sign in."""
        self.loading = True
        try:
            self._load_nav(project=False)
            self.signed_in = True
        except (SignedOut, DomainError):
            self.signed_in = False
        self.loading = False
