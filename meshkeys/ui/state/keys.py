"""The keys page: one page of rows (no secrets), filters, totals, generate; the actions on one
key are ``KeyActions``'s (shared with the key page).

Every handler resolves the actor from the session cookie and calls
``services.keys``; the services check the role and write the audit events.
"""

from __future__ import annotations

import dataclasses

import reflex as rx

from meshkeys.models import KeyPublic, KeyStatus, KeyWithSecret
from meshkeys.services import key_commands, key_queries
from meshkeys.ui.state.key_actions import KeyActions, secret_file
from meshkeys.ui.state.paging import KeysetPager
from meshkeys.ui.state.secret import show_secret
from meshkeys.ui.state.session import SessionState, fmt_time

PAGE_SIZE = 50


@dataclasses.dataclass
class KeyRow:
    """What the table shows of a key: no secret, only its masked form."""

    id: str
    short_id: str
    name: str
    masked: str
    status: str  # active | expiring | revoked
    reason: str
    created: str
    ended: str  # "revoked <time>" or "expires <time>"


def to_row(key: KeyPublic) -> KeyRow:
    if key.status == KeyStatus.ACTIVE and key.expires_at is not None:
        status, ended = "expiring", f"expires {fmt_time(key.expires_at)}"
    elif key.status == KeyStatus.REVOKED:
        status, ended = "revoked", f"revoked {fmt_time(key.revoked_at or key.expires_at)}"
    if key.revoke_reason is not None and status != "active":
        ended = f"{ended} ({key.revoke_reason})"
    else:
        status, ended = "active", ""
    return KeyRow(
        id=str(key.id),
        short_id=str(key.id)[:8],
        name=key.name,
        masked=key.masked_secret,
        status=status,
        reason=str(key.revoke_reason or ""),
        created=fmt_time(key.created_at),
        ended=ended,
    )


class KeysState(KeyActions, KeysetPager, SessionState):
    rows: list[KeyRow] = []
    # Filters.
    status_filter: str = "all"
    query: str = ""
    matching: int = 0
    # Totals by status, from the database.
    # Active excludes the keys in a grace period (those are Expiring): the cards add up to Total.
    total_active: int = 0
    # Every key that signs: active and expiring.
    signing_keys: int = 0
    total_expiring: int = 0
    total_revoked: int = 0
    total_keys: int = 0

    # ------------------------------------------------------------ loading

    def _fetch(self, cursor: str | None) -> str | None:
        page = self._call(
            key_queries.list_keys,
            project_id=self._route_project_id(),
            status=None if self.status_filter == "all" else self.status_filter,
            q=self.query or None,
            limit=PAGE_SIZE,
            cursor=cursor,
        )
        totals = page.totals
        self.rows = [to_row(k) for k in page.items]
        self.matching = page.total
        self.total_active = totals.active - totals.expiring
        self.signing_keys = totals.active
        self.total_expiring = totals.expiring
        self.total_revoked = totals.revoked
        self.total_keys = totals.total
        return page.next_cursor

    def _clear(self) -> None:
        self.rows = []
        self.has_next = False
        self.matching = 0
        self.total_active = self.total_expiring = self.total_revoked = self.total_keys = 0
        self.signing_keys = 0

    @rx.event
    def load(self):
        """on_load: who is signed in, the project and role, then the first page."""
        self.dialog = ""
        self.status_filter = "all"
        self.query = ""
        self._clear()
        return self._load_page(self._first_page, project=True)

    @rx.var
    def first_shown(self) -> int:
        return 0 if not self.rows else (self.page_number - 1) * PAGE_SIZE + 1

    @rx.var
    def last_shown(self) -> int:
        return (self.page_number - 1) * PAGE_SIZE + len(self.rows)

    @rx.event
    def set_status_filter(self, value: str):
        self.status_filter = value if value in ("all", "active", "revoked") else "all"
        return self._attempt(self._first_page)

    @rx.event
    def search(self, form: dict):
        self.query = str(form.get("q", "")).strip()[:200]
        return self._attempt(self._first_page)

    @rx.event
    def clear_search(self):
        self.query = ""
        self.status_filter = "all"
        return self._attempt(self._first_page)

    def _refresh(self, kind: str) -> None:
        """After a key action: a new key is first in the list; a changed one is redrawn."""
        if kind in ("generate", "rotate"):
            self._first_page()
        else:
            self._reload()

    # ------------------------------------------------------------ actions

    @rx.event
    def generate(self, form: dict):
        if not self._confirming("generate", form):
            return

        def work() -> KeyWithSecret:
            key = self._call(
                key_commands.generate_key,
                project_id=self._route_project_id(),
                name=str(form.get("name", "")),
            )
            self._then("generate")
            return key

        yield from self._action(
            "generate",
            work,
            lambda key: [
                *show_secret(
                    key.secret, title=f"Key '{key.name}' created", filename=secret_file(key)
                ),
                rx.toast.success(f"Key '{key.name}' generated. Copy its secret now."),
            ],
        )
