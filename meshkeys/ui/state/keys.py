"""The keys page: one page of rows (no secrets), filters, totals, generate; the actions on one
key are ``KeyActions``'s (shared with the key page).

Every handler resolves the actor from the session cookie and calls
``services.keys``; the services check the role and write the audit events.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from meshkeys import clock
from meshkeys.models import KeyPublic, KeyStatus, KeyType
from meshkeys.services import key_commands, key_queries
from meshkeys.services.errors import InvalidInput
from meshkeys.ui.state.key_actions import KeyActions, secret_file
from meshkeys.ui.state.paging import BAD_PAGE_LINK, UrlPager, url_page_number
from meshkeys.ui.state.pending import finished
from meshkeys.ui.state.secret import show_secret
from meshkeys.ui.state.session import SessionState, fmt_time

PAGE_SIZE = 50
KEY_TYPE_CHOICES = [
    (KeyType.HMAC_SHA256.value, "HMAC-SHA256 (v1): a secret shared with receivers"),
    (KeyType.ED25519.value, "Ed25519 (v1a): receivers get only a public key"),
]

STATUSES = ("all", "active", "revoked")


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
    public_key: str = ""  # ed25519 only: whpk_..., not a secret
    rotation: str = ""  # "rotates in N days" or "due now" (active keys under a policy)
    rotates_at: str = ""  # the exact time, shown on hover


def rotation_label(rotates_at: datetime | None, now: datetime) -> str:
    """When the project's rotation policy rotates a key, as the keys table says it."""
    if rotates_at is None:
        return ""
    left = (rotates_at - now).total_seconds()
    if left <= 0:
        return "due now"
    days = math.ceil(left / 86400)
    return "rotates in 1 day" if days == 1 else f"rotates in {days} days"


def to_row(key: KeyPublic, now: datetime | None = None) -> KeyRow:
    if key.status == KeyStatus.ACTIVE and key.expires_at is not None:
        status, ended = "expiring", f"expires {fmt_time(key.expires_at)}"
    elif key.status == KeyStatus.REVOKED:
        status, ended = "revoked", f"revoked {fmt_time(key.revoked_at or key.expires_at)}"
    else:
        status, ended = "active", ""
    if key.revoke_reason is not None and status != "active":
        ended = f"{ended} ({key.revoke_reason})"
    return KeyRow(
        id=str(key.id),
        short_id=str(key.id)[:8],
        name=key.name,
        masked=key.masked_secret,
        status=status,
        reason=str(key.revoke_reason or ""),
        created=fmt_time(key.created_at),
        ended=ended,
        public_key=key.public_key or "",
        rotation=rotation_label(key.rotates_at, now or clock.now()),
        rotates_at=fmt_time(key.rotates_at) if key.rotates_at else "",
    )


def search_problem(query: str) -> str:
    """What is wrong with the search text, in the page's words ("" when it can be searched):
    the service's own check (``KeyFilter.parse``), reworded for the Search box."""
    try:
        key_queries.KeyFilter.parse(None, query or None)
    except InvalidInput:
        return (
            "Search: the text has a tab, a line break or another control character. "
            "Type the name or id prefix again, or clear the filters."
        )
    return ""


class KeysState(KeyActions, UrlPager, SessionState):
    rows: list[KeyRow] = []
    # Filters.
    status_filter: str = "all"
    query: str = ""
    # Why the search text cannot be searched for (in the page's words), or "": the table is
    # then replaced by that message, and the totals are still the project's.
    search_error: str = ""
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
        self.search_error = search_problem(self.query)
        page = self._call(
            key_queries.list_keys,
            project_id=self._route_project_id(),
            status=None if self.status_filter == "all" else self.status_filter,
            # A search that cannot be run still loads the project's totals.
            q=(self.query or None) if not self.search_error else None,
            limit=PAGE_SIZE,
            cursor=cursor if not self.search_error else None,
        )
        totals = page.totals
        self.total_active = totals.active - totals.expiring
        self.signing_keys = totals.active
        self.total_expiring = totals.expiring
        self.total_revoked = totals.revoked
        self.total_keys = totals.total
        if self.search_error:  # the totals alone: the page shows why there are no rows
            self.rows, self.matching = [], 0
            return None
        now = clock.now()
        self.rows = [to_row(k, now) for k in page.items]
        self.matching = page.total
        return page.next_cursor

    def _clear(self) -> None:
        self.rows = []
        self.has_next = False
        self.matching = 0
        self.total_active = self.total_expiring = self.total_revoked = self.total_keys = 0
        self.signing_keys = 0

    def _view_url(self, cursor: str | None, page: int) -> str:
        """This view's address: ``?status=&q=&cursor=&page=`` (only what differs from the
        defaults), so reload, back/forward, links and bookmarks keep it."""
        query = {"status": "" if self.status_filter == "all" else self.status_filter}
        query["q"] = self.query
        if cursor:
            query.update(cursor=cursor, page=str(page))
        path = f"/projects/{self._page_params().get('project_id', '')}/keys"
        shown = {k: v for k, v in query.items() if v}
        return path + ("?" + urlencode(shown) if shown else "")

    def _show_page(self, cursor: str | None, page_hint: int) -> None:
        try:
            self._open_page(cursor, page_hint)
        except InvalidInput:
            if cursor is None:
                raise
            self._open_page(None, 1)
            raise InvalidInput(BAD_PAGE_LINK) from None

    @rx.event
    def load(self):
        """on_load (also on every change of the URL's query): who is signed in, the project and
        role, then the URL's view (status, search, page)."""
        params = self._page_params()
        self.dialog = ""
        status = str(params.get("status", "") or "all")
        self.status_filter = status if status in STATUSES else "all"
        self.query = str(params.get("q", "") or "").strip()[:200]
        self._clear()
        cursor = str(params.get("cursor", "") or "")[:500] or None
        page_hint = url_page_number(params.get("page", ""))
        return self._load_page(lambda: self._show_page(cursor, page_hint), project=True)

    @rx.var
    def first_shown(self) -> int:
        return 0 if not self.rows else (self.page_number - 1) * PAGE_SIZE + 1

    @rx.var
    def last_shown(self) -> int:
        return (self.page_number - 1) * PAGE_SIZE + len(self.rows)

    def _apply_view(self) -> Any:
        """The first page of the view now chosen, and its address in the URL."""
        return self._attempt(lambda: self._open_page(None, 1)) or self._push_view()

    @rx.event
    def set_status_filter(self, value: str):
        self.status_filter = value if value in STATUSES else "all"
        return self._apply_view()

    @rx.event
    def search(self, form: dict):
        self.query = str(form.get("q", "")).strip()[:200]
        return self._apply_view()

    @rx.event
    def clear_search(self):
        self.query = ""
        self.status_filter = "all"
        return self._apply_view()

    def _refresh(self, kind: str) -> None:
        """After a key action: a new key is first in the list; a changed one is redrawn."""
        if kind in ("generate", "rotate"):
            self._first_page()
        else:
            self._reload()

    def _view_events(self, kind: str) -> list[Any]:
        """A new key is on the first page: the address drops its cursor."""
        return [self._replace_view()] if kind in ("generate", "rotate") else []

    # ------------------------------------------------------------ actions

    @rx.event
    def generate(self, form: dict):
        if not self._confirming("generate", form):
            yield finished()
            return
        yield from self._secret_first(
            "generate",
            lambda: self._call(
                key_commands.generate_key,
                project_id=self._route_project_id(),
                name=str(form.get("name", "")),
                key_type=str(form.get("type", "") or KeyType.HMAC_SHA256.value),
            ),
            lambda key: [
                *show_secret(
                    key.secret, title=f"Key '{key.name}' created", filename=secret_file(key)
                ),
                rx.toast.success(f"Key '{key.name}' generated. Copy its secret now."),
            ],
        )
