"""The audit page: one page of events, filters, the per-day chart and the CSV export."""

from __future__ import annotations

import dataclasses
import itertools
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from meshkeys import clock
from meshkeys.models import AuditEventPublic
from meshkeys.services import audit, history
from meshkeys.services.errors import InvalidInput, has_control_chars
from meshkeys.services.history import AuditFilter
from meshkeys.ui.state.paging import BAD_PAGE_LINK, UrlPager, url_page_number
from meshkeys.ui.state.session import SessionState, fmt_time

PAGE_SIZE = 50
CHART_DAYS = 30
# Series of the chart; every other action is counted as "other".
CHART_SERIES = (
    audit.KEY_GENERATED,
    audit.KEY_ROTATED,
    audit.KEY_REVOKED,
    audit.KEY_REACTIVATED,
    audit.KEY_REVEALED,
    audit.ACCESS_DENIED,
)
EXPORT_LIMIT = 100_000


@dataclasses.dataclass
class EventRow:
    seq: int
    when: str
    actor: str
    action: str
    key_name: str
    key_id: str
    key_short: str
    old_status: str
    new_status: str
    client_ip: str
    summary: str


def _duration(seconds: int) -> str:
    """3600 -> "1 h", 86400 -> "1 day", 0 -> "none" (a grace period)."""
    if seconds <= 0:
        return "none"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    return f"{seconds} s"


def _detail_value(name: str, value: Any) -> str:
    """One detail as a person reads it: durations, times, short ids, lists, yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name.endswith("_seconds") and isinstance(value, int):
        return _duration(value)
    if name.endswith("_days") and isinstance(value, int):
        return _duration(value * 86400)
    if isinstance(value, list):
        return ", ".join(_detail_value(name, v) for v in value) or "none"
    if isinstance(value, dict):  # a rotation policy: {"rotate_every_days": 30, ...}
        return ", ".join(_worded(k, v) for k, v in sorted(value.items())) or "none"
    text = str(value)
    if name.endswith("_at"):
        try:
            return fmt_time(datetime.fromisoformat(text))
        except ValueError:
            return text
    if name == "id" or name.endswith("_id"):
        try:
            return str(uuid.UUID(text))[:8]  # as the tables show ids; the CSV has them whole
        except ValueError:
            return text
    return text


def _summary(event: AuditEventPublic) -> str:
    """The event's details on one line, as words: ``reason: compromised · grace: none``
    (``grace_seconds`` -> grace, ``expires_at`` -> expires, ids cut to the 8 characters the
    tables show). The CSV export and the API keep the raw details."""
    details = {k: v for k, v in (event.details or {}).items() if v not in (None, "")}
    return " · ".join(_worded(k, v) for k, v in sorted(details.items()))[:200]


# A detail's unit is said by its value ("grace_seconds": 3600 -> "grace: 1 h").
UNIT_SUFFIXES = re.compile(r"_(seconds|days|at)$")


def _worded(name: str, value: Any) -> str:
    label = UNIT_SUFFIXES.sub("", name).replace("_", " ")
    return f"{label}: {_detail_value(name, value)}"


def to_row(event: AuditEventPublic) -> EventRow:
    return EventRow(
        seq=event.seq,
        when=event.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        actor=event.actor_email,
        action=event.action,
        key_name=event.key_name or "",
        key_id=str(event.key_id) if event.key_id else "",
        key_short=str(event.key_id)[:8] if event.key_id else "",
        old_status=event.old_status or "",
        new_status=event.new_status or "",
        client_ip=event.client_ip or "",
        summary=_summary(event),
    )


def _day(value: str, label: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{label}: enter a date like 2026-01-31.") from None


def _end_of(day: date | None) -> datetime | None:
    """The 'to' day is included: events before the next midnight (none after 9999-12-31)."""
    if day is None or day == date.max:
        return None
    return datetime.combine(day + timedelta(days=1), time(), UTC)


def csv_text(events) -> tuple[str, int]:
    """The events as the API's CSV export writes them (same columns, same escaping of cells a
    spreadsheet would run as formulas); at most EXPORT_LIMIT rows."""
    newest = list(itertools.islice(events, EXPORT_LIMIT))
    return "".join(history.export_lines(newest, "csv")), len(newest)


# The URL's query parameters of the filters (named after the labels), and their lengths.
URL_FILTERS = {"action": 40, "key": 36, "actor": 320, "from": 10, "to": 10}


class AuditState(UrlPager, SessionState):
    rows: list[EventRow] = []
    # Filters as the URL has them (strings, validated when the page loads).
    f_action: str = "all"
    f_key: str = ""
    f_actor: str = ""
    f_since: str = ""
    f_until: str = ""
    # Why the filters match nothing (bad input): shown instead of the table.
    filter_error: str = ""
    chart: list[dict] = []

    def _filter(self) -> AuditFilter:
        """The filters as the service takes them; InvalidInput worded with the page's labels."""
        action = None if self.f_action in ("", "all") else self.f_action
        if action is not None and action not in audit.ACTIONS:
            raise InvalidInput("Action: pick one from the list.")
        key_prefix = self.f_key.strip() or None
        if key_prefix is not None:
            try:
                history.key_id_range(key_prefix)
            except InvalidInput:
                raise InvalidInput(
                    "Key: enter the 8-character short id shown in the table, or the full key id."
                ) from None
        actor = self.f_actor.strip() or None
        if actor is not None and (len(actor) > 320 or has_control_chars(actor)):
            raise InvalidInput("Actor: enter the email address of a member.")
        since = _day(self.f_since, "From")
        until = _day(self.f_until, "To")
        if since and until and since > until:
            raise InvalidInput("From is after To: swap the two dates.")
        return AuditFilter(
            action=action,
            key_prefix=key_prefix,
            actor=actor,
            since=datetime.combine(since, time(), UTC) if since else None,
            until=_end_of(until),
        ).validate()

    def _fetch(self, cursor: str | None) -> str | None:
        page = self._call(
            history.list_events,
            project_id=self._route_project_id(),
            flt=self._filter(),
            limit=PAGE_SIZE,
            cursor=cursor,
        )
        self.rows = [to_row(e) for e in page.items]
        return page.next_cursor

    def _reload_chart(self) -> None:
        counts = self._call(
            history.daily_counts, project_id=self._route_project_id(), days=CHART_DAYS
        )
        today = clock.now().date()
        days = [(today - timedelta(days=n)).isoformat() for n in range(CHART_DAYS - 1, -1, -1)]
        series = {d: {"day": d[5:], **{s: 0 for s in CHART_SERIES}, "other": 0} for d in days}
        for item in counts:
            bucket = series.get(item["day"])
            if bucket is None:
                continue
            name = item["action"] if item["action"] in CHART_SERIES else "other"
            bucket[name] += item["count"]
        self.chart = list(series.values())

    def _set_filters(self, action="all", key="", actor="", since="", until="") -> None:
        self.f_action = str(action or "all").strip()[: URL_FILTERS["action"]]
        self.f_key = str(key or "").strip()[: URL_FILTERS["key"]]
        self.f_actor = str(actor or "").strip()[: URL_FILTERS["actor"]]
        self.f_since = str(since or "").strip()[: URL_FILTERS["from"]]
        self.f_until = str(until or "").strip()[: URL_FILTERS["to"]]

    def _view_url(self, cursor: str | None, page: int) -> str:
        values = {
            "action": "" if self.f_action == "all" else self.f_action,
            "key": self.f_key,
            "actor": self.f_actor,
            "from": self.f_since,
            "to": self.f_until,
        }
        query = {k: v for k, v in values.items() if v}
        if cursor:
            query.update(cursor=cursor, page=str(page))
        path = f"/projects/{self._page_params().get('project_id', '')}/audit"
        return path + ("?" + urlencode(query) if query else "")

    def _show_page(self, cursor: str | None, page_hint: int) -> None:
        """The URL's page; bad filters or a bad cursor empty the table and say why."""
        try:
            self._filter()
        except InvalidInput as exc:
            return self._no_rows(exc.message)
        try:
            self._open_page(cursor, page_hint)
        except InvalidInput:
            return self._no_rows(BAD_PAGE_LINK)
        self.filter_error = ""
        return None

    def _no_rows(self, why: str) -> None:
        self.filter_error = why
        self.rows, self.has_next, self._next_cursor = [], False, None
        self._cursors, self._cursor, self.page_number = [], None, 1

    @rx.event
    def load(self):
        """on_load (also on every change of the URL's query): the URL's filters and page."""
        params = self._page_params()
        self.rows, self.has_next, self.filter_error = [], False, ""
        self._set_filters(
            params.get("action", ""),
            params.get("key", ""),
            params.get("actor", ""),
            params.get("from", ""),
            params.get("to", ""),
        )
        cursor = str(params.get("cursor", "") or "")[:500] or None
        page_hint = url_page_number(params.get("page", ""))
        return self._load_page(
            lambda: self._show_page(cursor, page_hint), self._reload_chart, project=True
        )

    @rx.event
    def apply_filters(self, form: dict):
        """Apply (or Enter in a field): every filter at once, into the URL (the first page)."""
        self._set_filters(
            form.get("action"),
            form.get("key"),
            form.get("actor"),
            form.get("since"),
            form.get("until"),
        )
        return self._attempt(lambda: self._show_page(None, 1)) or self._push_view()

    @rx.event
    def clear_filters(self):
        self._set_filters()
        return self._attempt(lambda: self._show_page(None, 1)) or self._push_view()

    @rx.event
    def export_csv(self):
        """Download the filtered events (all pages) as CSV."""

        def work() -> tuple[uuid.UUID, str, int]:
            project_id, flt = self._route_project_id(), self._filter()
            return project_id, *self._call(
                lambda uow: csv_text(history.export_events(uow, project_id=project_id, flt=flt))
            )

        def done(result: tuple[uuid.UUID, str, int]):
            project_id, text, count = result
            stamp = clock.now().strftime("%Y%m%d-%H%M%S")
            events = [
                rx.download(data=text, filename=f"meshkeys-audit-{str(project_id)[:8]}-{stamp}.csv")
            ]
            if count >= EXPORT_LIMIT:
                events.append(
                    rx.toast.warning(
                        f"Exported the newest {EXPORT_LIMIT:,} events. Narrow the filters, or use "
                        "GET /audit/export for the whole log."
                    )
                )
            else:
                events.append(rx.toast.success(f"Exported {count} events as CSV."))
            return events

        yield from self._action("export", work, done)
