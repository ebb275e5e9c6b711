"""/projects/[project_id]/keys/[key_id]: one key, its own audit history (one page in state),
and the key actions (``KeyActions``, shared with the keys table)."""

from __future__ import annotations

import dataclasses
import uuid

import reflex as rx

from meshkeys.services import history, key_queries
from meshkeys.services.errors import NotFound
from meshkeys.services.history import AuditFilter
from meshkeys.services.keys import KEY_NOT_FOUND
from meshkeys.ui.state.audit import EventRow
from meshkeys.ui.state.audit import to_row as event_row
from meshkeys.ui.state.key_actions import KeyActions
from meshkeys.ui.state.keys import to_row
from meshkeys.ui.state.paging import KeysetPager
from meshkeys.ui.state.session import SessionState, fmt_time

HISTORY_PAGE_SIZE = 20
KEY_TYPES = {"hmac-sha256": "HMAC-SHA256", "ed25519": "Ed25519"}


@dataclasses.dataclass
class KeyDetail:
    """What the key page shows of a key: no secret, only its masked form."""

    id: str = ""
    short_id: str = ""
    name: str = ""
    type: str = ""
    masked: str = ""
    status: str = ""  # active | expiring | revoked
    reason: str = ""
    created: str = ""
    created_by: str = ""
    ended: str = ""
    public_key: str = ""  # ed25519 only: whpk_..., not a secret
    rotation: str = ""  # "rotates in N days" / "due now" under the project's rotation policy
    rotates_at: str = ""


def to_detail(details: key_queries.KeyDetails) -> KeyDetail:
    key = details.key
    row = to_row(key)
    kind = key.key_type.value
    return KeyDetail(
        id=row.id,
        short_id=row.short_id,
        name=row.name,
        type=KEY_TYPES.get(kind, kind),
        masked=row.masked,
        status=row.status,
        reason=row.reason,
        created=fmt_time(key.created_at),
        created_by=details.created_by_email or "unknown (the account was deleted)",
        ended=row.ended,
        public_key=row.public_key,
        rotation=row.rotation,
        rotates_at=row.rotates_at,
    )


class KeyPageState(KeyActions, KeysetPager, SessionState):
    key: KeyDetail = KeyDetail()
    found: bool = False
    history: list[EventRow] = []

    def _route_key_id(self) -> uuid.UUID:
        try:
            return uuid.UUID(str(self._page_params().get("key_id", "") or ""))
        except ValueError:
            raise NotFound(KEY_NOT_FOUND) from None

    def _load_key(self) -> None:
        try:
            details = self._call(
                key_queries.get_project_key,
                project_id=self._route_project_id(),
                key_id=self._route_key_id(),
            )
        except NotFound as exc:
            # The layout's not-found view; the same for another project's key as for none.
            self.key, self.found, self.history = KeyDetail(), False, []
            self.not_found = exc.message
            raise
        self.key, self.found = to_detail(details), True

    def _fetch(self, cursor: str | None) -> str | None:
        page = self._call(
            history.list_events,
            project_id=self._route_project_id(),
            flt=AuditFilter(key_id=uuid.UUID(self.key.id)),
            limit=HISTORY_PAGE_SIZE,
            cursor=cursor,
        )
        self.history = [event_row(e) for e in page.items]
        return page.next_cursor

    def _refresh(self, kind: str) -> None:
        self._load_key()
        self._first_page()

    @rx.event
    def load(self):
        """on_load: the navigation and the project, the key, then its newest events."""
        self.dialog = ""
        self.key, self.found, self.history, self.has_next = KeyDetail(), False, [], False
        return self._load_page(self._load_key, self._first_page, project=True)
