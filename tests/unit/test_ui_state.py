"""The Reflex states in-process (no browser): the audit page's date filters, and what a state
holds when its websocket carries no valid session."""

from __future__ import annotations

from datetime import UTC, datetime

from meshkeys.services import history
from meshkeys.ui.state.audit import AuditState


def test_the_audit_page_takes_the_widest_date_range(uow, world):
    state = AuditState(_reflex_internal_init=True)  # type: ignore[call-arg]
    state.f_since, state.f_until = "1900-01-01", "9999-12-31"
    flt = state._filter()
    assert (flt.since, flt.until) == (datetime(1900, 1, 1, tzinfo=UTC), None)
    page = history.list_events(uow(world.viewer), project_id=world.project_id, flt=flt)
    assert page.items  # project created, members added
    state.f_since, state.f_until = "0001-01-01", "9999-12-30"
    assert state._filter().until == datetime(9999, 12, 31, tzinfo=UTC)
