"""Keyset paging for a state that shows one page of rows: a stack of cursors for "Previous"."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx


class KeysetPager(rx.State, mixin=True):
    """Needs ``_fetch(cursor) -> next_cursor`` (loads the rows) and ``_attempt`` on the state."""

    # Cursors of the pages before this one (None is the first page).
    _cursors: list[str | None] = []
    _cursor: str | None = None
    _next_cursor: str | None = None
    page_number: int = 1
    has_next: bool = False

    def _fetch(self, cursor: str | None) -> str | None:
        raise NotImplementedError

    def _reload(self) -> None:
        self._next_cursor = self._fetch(self._cursor)
        self.has_next = self._next_cursor is not None

    def _first_page(self) -> None:
        self._cursors = []
        self._cursor = None
        self.page_number = 1
        self._reload()

    def _go(self, cursors: list[str | None], cursor: str | None, number: int) -> None:
        previous = (self._cursors, self._cursor, self.page_number)
        self._cursors, self._cursor, self.page_number = cursors, cursor, number
        try:
            self._reload()
        except Exception:
            self._cursors, self._cursor, self.page_number = previous
            raise

    @rx.event
    def next_page(self):
        if not self._next_cursor:
            return None
        return self._attempt(
            lambda: self._go(
                [*self._cursors, self._cursor], self._next_cursor, self.page_number + 1
            )
        )

    @rx.event
    def previous_page(self):
        if not self._cursors:
            return None
        return self._attempt(
            lambda: self._go(self._cursors[:-1], self._cursors[-1], max(1, self.page_number - 1))
        )


BAD_PAGE_LINK = "This page link is not valid any more: start again from the first page."


def url_page_number(raw: object) -> int:
    """The ``page`` query parameter: a label for the page a cursor starts (2 or more)."""
    try:
        return min(max(int(str(raw)), 2), 10_000_000)
    except ValueError:
        return 2


class UrlPager(KeysetPager, mixin=True):
    """Keyset paging whose view lives in the URL (``?<filters>&cursor=...&page=N``).

    Next, Previous and a filter change act at once, as before, then push the view's address
    (``history.pushState``: no second load). Reload, a shared link and a bookmark run the page's
    ``on_load``, which shows the URL's page with ``_open_page``; back and forward do too (React
    Router turns ``popstate`` into a location change, and Reflex into ``on_load``). The stack of
    earlier cursors (for Previous) is kept when the URL is this page or a neighbour of it; a
    page opened from a link alone goes back to the first page. Needs ``_view_url(cursor, page)``.
    """

    _view_key: str = ""

    def _view_url(self, cursor: str | None, page: int) -> str:
        raise NotImplementedError

    def _open_page(self, cursor: str | None, page_hint: int) -> None:
        """Show the page of the URL's ``cursor`` (``None``: the first page)."""
        view = self._view_url(None, 1)
        same_view = view == self._view_key
        if cursor is None:
            stack, number = [], 1
        elif same_view and cursor == self._cursor:
            stack, number = self._cursors, self.page_number
        elif same_view and cursor == self._next_cursor:
            stack, number = [*self._cursors, self._cursor], self.page_number + 1
        elif same_view and cursor in self._cursors:
            at = self._cursors.index(cursor)
            stack, number = self._cursors[:at], at + 1
        else:
            stack, number = [None], page_hint
        self._view_key = view
        self._cursors, self._cursor, self.page_number = stack, cursor, number
        self._next_cursor, self.has_next = None, False
        self._reload()

    def _push_view(self) -> Any:
        """The event that puts the view shown into the address bar (a new history entry)."""
        self._view_key = self._view_url(None, 1)
        url = self._view_url(self._cursor, self.page_number)
        return rx.call_script(f"window.history.pushState(null, '', {json.dumps(url)})")

    def _replace_view(self) -> Any:
        """The same, replacing the current history entry (an action moved to the first page)."""
        self._view_key = self._view_url(None, 1)
        url = self._view_url(self._cursor, self.page_number)
        return rx.call_script(f"window.history.replaceState(null, '', {json.dumps(url)})")

    @rx.event
    def next_page(self):
        if not self._next_cursor:
            return None
        failed = self._attempt(
            lambda: self._go(
                [*self._cursors, self._cursor], self._next_cursor, self.page_number + 1
            )
        )
        return failed or self._push_view()

    @rx.event
    def previous_page(self):
        if not self._cursors:
            return None
        failed = self._attempt(
            lambda: self._go(self._cursors[:-1], self._cursors[-1], len(self._cursors))
        )
        return failed or self._push_view()
