"""/settings/tokens: the user's API tokens (create: shown once; list; revoke)."""

from __future__ import annotations

import dataclasses
import uuid

import reflex as rx

from meshkeys.services import auth
from meshkeys.services.errors import InvalidInput
from meshkeys.ui.state.secret import show_secret
from meshkeys.ui.state.session import SessionState, fmt_time


@dataclasses.dataclass
class TokenRow:
    id: str
    name: str
    prefix: str
    created: str
    last_used: str
    revoked: str
    active: bool


class TokensState(SessionState):
    rows: list[TokenRow] = []
    revoke_id: str = ""
    revoke_name: str = ""

    def _reload(self) -> None:
        items = self._call(auth.list_api_tokens)
        self.rows = [
            TokenRow(
                id=str(t.id),
                name=t.name,
                prefix=t.token_prefix + "…",
                created=fmt_time(t.created_at),
                last_used=fmt_time(t.last_used_at) or "never",
                revoked=fmt_time(t.revoked_at),
                active=t.revoked_at is None,
            )
            for t in items
        ]

    @rx.event
    def load(self):
        return self._load_page(self._reload, project=False)

    @rx.event
    def create(self, form: dict):
        if not self.creating:  # a second click of the same submit (double-click): ignored
            return

        def work():
            token = self._call(auth.create_api_token, name=str(form.get("name", "")))
            self._reload()
            self.creating = False
            return token

        yield from self._action(
            "create",
            work,
            lambda token: [
                *show_secret(
                    token.token,
                    title=f"API token '{token.name}' created",
                    filename=f"meshkeys-token-{token.name}.txt",
                ),
                rx.toast.success(f"Token '{token.name}' created. Copy it now."),
            ],
        )

    @rx.event
    def ask_revoke(self, token_id: str, name: str):
        self.revoke_id, self.revoke_name = token_id, name

    @rx.event
    def cancel_revoke(self, is_open: bool = False):
        if not is_open:
            self.revoke_id = self.revoke_name = ""

    @rx.event
    def revoke(self):
        if not self.revoke_id:  # the confirm was already answered (double-click): ignored
            return

        def work():
            try:
                token_id = uuid.UUID(self.revoke_id)
            except ValueError:
                raise InvalidInput("Pick a token from the list.") from None
            token = self._call(auth.revoke_api_token, token_id=token_id)
            self.revoke_id = self.revoke_name = ""
            self._reload()
            return token

        yield from self._action(
            "revoke",
            work,
            lambda token: rx.toast.success(
                f"Token '{token.name}' revoked; requests using it now get 401."
            ),
        )
