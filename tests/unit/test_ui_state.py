"""The Reflex states in-process (no browser): the audit page's date filters, and what a state
holds when its websocket carries no valid session."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime

import pytest

from meshkeys.crypto.secrets import hash_token
from meshkeys.models import AuditEventPublic
from meshkeys.services import auth, history, projects
from meshkeys.ui.state.audit import AuditState
from meshkeys.ui.state.audit import to_row as audit_to_row
from meshkeys.ui.state.keys import KeyRow, KeysState
from meshkeys.ui.state.session import ProjectItem, SessionGuard, SessionState, SignedOut
from meshkeys.web_session import DIGEST_PREFIX, SESSION_COOKIE


def test_the_audit_page_takes_the_widest_date_range(uow, world):
    state = AuditState(_reflex_internal_init=True)  # type: ignore[call-arg]
    state.f_since, state.f_until = "1900-01-01", "9999-12-31"
    flt = state._filter()
    assert (flt.since, flt.until) == (datetime(1900, 1, 1, tzinfo=UTC), None)
    page = history.list_events(uow(world.viewer), project_id=world.project_id, flt=flt)
    assert page.items  # project created, members added
    state.f_since, state.f_until = "0001-01-01", "9999-12-30"
    assert state._filter().until == datetime(9999, 12, 31, tzinfo=UTC)


def _tab(cookie: str | None):
    """A whole state tree, as Reflex holds one per tab, with a websocket sending ``cookie``."""
    import reflex as rx

    import meshkeys.meshkeys  # noqa: F401 - registers every page state

    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg]
    headers = {"cookie": cookie} if cookie else {}
    root.router_data = root._update_router_vars({"headers": headers, "pathname": "/"}, {})
    return root


def _loaded(root, email: str) -> tuple[SessionState, KeysState]:
    """The tab after a signed-in page load: the user's email, projects and key names in it."""
    session = asyncio.run(root.get_state(SessionState))
    keys = asyncio.run(root.get_state(KeysState))
    session.user_email = email
    session.nav_projects = [ProjectItem(id="p", name="Payments", role="owner")]
    keys.rows = [KeyRow("k", "k", "billing-prod", "whsec_…abcd", "active", "", "", "")]
    keys.total_keys = 1
    session._holds_data = True
    return session, keys


def _cookie_of(uow, actor) -> str:
    token = auth.start_session(uow(actor))
    return f"{SESSION_COOKIE}={DIGEST_PREFIX}{hash_token(token)}"


@pytest.mark.parametrize("cookie", [None, f"{SESSION_COOKIE}={DIGEST_PREFIX}{'0' * 64}"])
def test_a_tab_token_replayed_without_a_valid_cookie_hydrates_no_user_data(uow, world, cookie):
    root = _tab(cookie)
    session, keys = _loaded(root, world.owner.email)
    asyncio.run(SessionGuard().preprocess(None, root, None))
    assert (session.user_email, session.nav_projects, keys.rows, keys.total_keys) == ("", [], [], 0)
    snapshot = json.dumps(root.dict(), default=str)
    assert world.owner.email not in snapshot and "billing-prod" not in snapshot


def test_a_tab_with_a_valid_session_keeps_its_data(uow, world):
    root = _tab(_cookie_of(uow, world.owner))
    session, keys = _loaded(root, world.owner.email)
    asyncio.run(SessionGuard().preprocess(None, root, None))
    assert session.user_email == world.owner.email and keys.rows


def test_a_handler_without_a_session_clears_the_signed_in_vars(uow, world):
    root = _tab(None)
    session, keys = _loaded(root, world.owner.email)
    with pytest.raises(SignedOut):
        keys._call(projects.list_projects)
    assert (session.user_email, keys.rows, session._holds_data) == ("", [], False)


class _Lookups:
    """Counts the session lookups (the real ones: this wraps, it does not replace)."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        real = auth.actor_for_session_digest

        def counted(uow, *, digest):
            self.calls += 1
            return real(uow, digest=digest)

        monkeypatch.setattr(auth, "actor_for_session_digest", counted)


def _event(root, *handler_calls):
    """One event as Reflex runs it: the middleware, then the handler, in one task."""

    async def run():
        await SessionGuard().preprocess(None, root, None)
        return [call() for call in handler_calls]

    return asyncio.run(run())


def test_an_event_looks_its_session_up_once(uow, world, monkeypatch):
    root = _tab(_cookie_of(uow, world.owner))
    session, keys = _loaded(root, world.owner.email)
    lookups = _Lookups(monkeypatch)
    [names] = _event(root, lambda: [p.name for p in keys._call(projects.list_projects)])
    assert names == ["Payments"] and lookups.calls == 1  # the guard's; the handler reused it
    keys._call(projects.list_projects)  # outside that event: a lookup of its own
    assert lookups.calls == 2


def test_a_session_ended_before_the_next_event_is_refused_at_once(uow, world, monkeypatch):
    token = auth.start_session(uow(world.owner))
    root = _tab(f"{SESSION_COOKIE}={DIGEST_PREFIX}{hash_token(token)}")
    session, keys = _loaded(root, world.owner.email)
    _event(root, lambda: keys._call(projects.list_projects))
    auth.end_session(uow(world.owner), token=token)  # signed out in another tab
    lookups = _Lookups(monkeypatch)
    _event(root)  # the next event: the guard finds it ended and resets the tab
    assert (session.user_email, keys.rows, lookups.calls) == ("", [], 1)
    with pytest.raises(SignedOut):  # and a handler does not sign in with an old check
        _event(root, lambda: keys._call(projects.list_projects))


def test_state_files_are_readable_by_their_owner_only(tmp_path):
    from meshkeys.ui.state_store import restrict_state_store

    stale = tmp_path / "left-by-an-earlier-run.pkl"
    stale.write_bytes(b"state")
    stale.chmod(0o644)
    previous = restrict_state_store(tmp_path)
    try:
        # What Reflex's disk manager does with a state (e2e checks the real files too).
        fresh = tmp_path / "fresh.pkl"
        fresh.write_bytes(b"state")
    finally:
        os.umask(previous)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {
        stale.name: 0o600,
        fresh.name: 0o600,
    }
    assert tmp_path.stat().st_mode & 0o777 == 0o700


def test_a_keys_row_shows_revoked_even_without_a_reason_and_the_reason_when_there_is_one():
    import uuid

    from meshkeys.models import KeyPublic, KeyStatus, RevokeReason
    from meshkeys.ui.state.keys import to_row

    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    base = dict(
        id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        name="k",
        key_hint="abcd",
        masked_secret="whsec_…abcd",
        created_at=when,
        created_by=None,
        expires_at=None,
    )
    bare = to_row(
        KeyPublic(**base, status=KeyStatus.REVOKED, revoked_at=when, revoke_reason=None), when
    )
    assert (bare.status, bare.ended.startswith("revoked")) == ("revoked", True)
    told = KeyPublic(
        **base, status=KeyStatus.REVOKED, revoked_at=when, revoke_reason=RevokeReason.COMPROMISED
    )
    assert to_row(told, when).ended.endswith("(compromised)")
    active = KeyPublic(**base, status=KeyStatus.ACTIVE, revoked_at=None, revoke_reason=None)
    assert to_row(active, when).status == "active"


def test_the_key_page_shows_an_ed25519_public_key_and_when_the_policy_rotates_the_key():
    import uuid
    from datetime import timedelta

    from meshkeys import clock
    from meshkeys.models import KeyPublic, KeyStatus, KeyType
    from meshkeys.services.key_queries import KeyDetails
    from meshkeys.ui.state.key_page import to_detail

    now = clock.now()
    key = KeyPublic(
        id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        name="edge",
        key_hint="abcd",
        masked_secret="whsk_…abcd",
        status=KeyStatus.ACTIVE,
        revoke_reason=None,
        created_at=now,
        created_by=None,
        revoked_at=None,
        expires_at=None,
        key_type=KeyType.ED25519,
        public_key="whpk_" + "A" * 43 + "=",
        rotates_at=now + timedelta(days=3, hours=1),
    )
    detail = to_detail(KeyDetails(key=key, created_by_email="a@example.com"))
    assert detail.type == "Ed25519" and detail.public_key == key.public_key
    assert detail.rotation == "rotates in 4 days"  # rounded up, as on the keys page


def test_generate_answers_with_the_secret_first_and_the_refreshed_rows_after(uow, world):
    """Reflex sends an answer's delta before its events, and the browser draws the delta (the
    form closing, a new first page) before it opens the dialog: the secret goes alone in the
    first answer; the closed form and the rows that show the new key come in the next one."""
    from meshkeys.ui.state.pending import PENDING
    from meshkeys.ui.state.secret import SHOWN_SECRET

    root = _tab(_cookie_of(uow, world.owner))
    root.router_data = root._update_router_vars(
        {
            "headers": root.router_data.get("headers", {}),
            "pathname": f"/projects/{world.project_id}/keys",
            "query": {"project_id": str(world.project_id)},
        },
        {},
    )
    keys = asyncio.run(root.get_state(KeysState))
    keys.dialog = "generate"
    answers = KeysState.generate.fn(keys, {"name": "first-class"})
    first = next(answers)
    pushed = [str(e) for e in first]
    assert keys.dialog == "generate" and not keys.rows, "the form and rows wait for the 2nd answer"
    assert any(SHOWN_SECRET._setter_name in e and "whsec_" in e for e in pushed), pushed
    assert any(PENDING._setter_name in e for e in pushed), "the spinner ends with the secret"
    second = next(answers)
    assert keys.dialog == "" and [r.name for r in keys.rows] == ["first-class"]
    assert "replaceState" in str(second), "the address drops its cursor with the new rows"
    assert next(answers, None) is None


def _audit_event(details: dict) -> AuditEventPublic:
    return AuditEventPublic(
        id=uuid.uuid4(),
        seq=1,
        project_id=None,
        actor_id=None,
        actor_email="a@example.com",
        action="key.revoked",
        key_id=None,
        key_name=None,
        old_status=None,
        new_status=None,
        details=details,
        client_ip=None,
        user_agent=None,
        created_at=datetime(2026, 12, 8, tzinfo=UTC),
    )


def test_the_audit_table_shows_details_as_words_not_raw_key_value_pairs():
    """A new user read ``expires_at=2026-12-09T00:05:00+00:00, grace_seconds=86400, ...``."""
    rotated = _audit_event(
        {
            "reason": "compromised",
            "grace_seconds": 86400,
            "expires_at": "2026-12-09T00:05:00+00:00",
            "new_key_id": "0b6c7d58-1e0f-4a53-9d63-5a4f4c3e2b1a",
            "replaced": False,
            "permissions": ["keys:read", "webhooks:sign"],
            "note": None,
        }
    )
    assert audit_to_row(rotated).summary == (
        "expires: 2026-12-09 00:05 UTC · grace: 1 day · new key id: 0b6c7d58 · "
        "permissions: keys:read, webhooks:sign · reason: compromised · replaced: no"
    )
    assert audit_to_row(_audit_event({"grace_seconds": 0})).summary == "grace: none"
    assert audit_to_row(_audit_event({"grace_seconds": 3600})).summary == "grace: 1 h"
    assert audit_to_row(_audit_event({"grace_seconds": 90})).summary == "grace: 90 s"
    assert audit_to_row(_audit_event({"token_id": "not-a-uuid"})).summary == "token id: not-a-uuid"
    policy = {"policy": {"rotate_every_days": 30, "grace_seconds": 3600}}
    assert audit_to_row(_audit_event(policy)).summary == "policy: grace: 1 h, rotate every: 30 days"
