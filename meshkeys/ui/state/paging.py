"""Keyset paging for a state that shows one page of rows: a stack of cursors for "Previous"."""

from __future__ import annotations

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
