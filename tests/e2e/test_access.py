"""Roles in the browser: a viewer sees no change buttons and a forged event is refused by the
service; a member of another project gets nothing from a guessed URL.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from meshkeys.models import AuditEvent, SignatureKey
from meshkeys.services import key_commands
from meshkeys.ui.state.keys import KeysState
from tests.e2e.support import (
    audit_url,
    goto,
    keys_url,
    make_team,
    new_context,
    services_session,
    sign_in,
)
from tests.helpers import call

# Records the page's websockets, so a test can send a frame of its own on Reflex's socket.
SOCKET_RECORDER = """
(() => {
  const Native = window.WebSocket;
  window.__mkSockets = [];
  function Recorded(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    window.__mkSockets.push(ws);
    return ws;
  }
  Recorded.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Recorded[k] = Native[k];
  window.WebSocket = Recorded;
})();
"""


@pytest.fixture(scope="module")
def team(app):
    team = make_team("acl")
    call(key_commands.generate_key, team.owner, project_id=team.project_id, name="shared-key")
    return team


@pytest.fixture
def page(browser, app):
    context = new_context(browser, app)
    context.add_init_script(SOCKET_RECORDER)
    yield context.new_page()
    context.close()


def the_key() -> SignatureKey:
    with services_session() as s:
        return s.exec(select(SignatureKey).where(SignatureKey.name == "shared-key")).one()


def denied_events(project_id) -> list[AuditEvent]:
    with services_session() as s:
        return list(
            s.exec(
                select(AuditEvent).where(
                    AuditEvent.project_id == project_id, AuditEvent.action == "access.denied"
                )
            ).all()
        )


def test_viewer_sees_the_keys_without_change_buttons(page: Page, team):
    sign_in(page, team.viewer.email)
    expect(page.get_by_role("heading", name="acl payments · Keys")).to_be_visible()
    row = page.get_by_role("row", name="shared-key")
    expect(row).to_contain_text("active")
    for name in ("Generate key", "Rotate", "Revoke", "Reactivate", "Reveal"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Actions")).to_have_count(0)
    expect(page.get_by_text("An owner or admin of this project can generate")).to_have_count(0)
    # ...and is told why (issue 9, defect 14).
    expect(page.get_by_label("Why there are no key actions")).to_contain_text(
        "viewers can't change keys"
    )


def test_an_admin_is_not_told_they_are_a_viewer(page: Page, team):
    sign_in(page, team.owner.email)
    expect(page.get_by_role("button", name="Generate key")).to_be_visible()
    expect(page.get_by_label("Why there are no key actions")).to_have_count(0)


def test_forged_events_from_a_viewer_are_refused_by_the_services(page: Page, team):
    sign_in(page, team.viewer.email)
    expect(page.get_by_role("row", name="shared-key")).to_be_visible()
    key = the_key()
    before = len(denied_events(team.project_id))

    # Capture a real event frame (changing the status filter), then replay it renamed.
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: frames.append(f)))
    page.reload()
    expect(page.get_by_role("row", name="shared-key")).to_be_visible()
    page.wait_for_function("window.__mkSockets.some(s => s.readyState === 1)")
    page.get_by_label("Status filter").click()
    page.get_by_role("option", name="active").click()
    expect(page.get_by_text("matching keys")).to_be_visible()
    handler = KeysState.get_full_name() + ".set_status_filter"
    sent = next(f for f in frames if isinstance(f, str) and handler in f)
    prefix, body = sent[: sent.index("[")], json.loads(sent[sent.index("[") :])
    event = body[1]

    def forge(name: str, payload: dict) -> None:
        forged = dict(event, name=KeysState.get_full_name() + "." + name, payload=payload)
        frame = prefix + json.dumps([body[0], forged])
        page.evaluate(
            "f => window.__mkSockets.filter(s => s.readyState === 1).at(-1).send(f)", frame
        )

    # The forger opens the dialog first (the page ignores a confirm of no open dialog): the
    # refusal must come from the services, whatever the page's state says.
    forge("open_dialog", {"kind": "revoke", "key_id": str(key.id), "name": key.name})
    forge("revoke", {"form": {"key_id": str(key.id), "reason": "compromised", "grace": "0"}})
    expect(
        page.get_by_text(
            re.compile(
                r"Your role in this project is viewer; revoking a key "
                r"needs admin"
            )
        )
    ).to_be_visible()
    forge("open_dialog", {"kind": "generate", "key_id": "", "name": ""})
    forge("generate", {"form": {"name": "forged"}})
    expect(page.get_by_text(re.compile(r"generating a key needs admin"))).to_be_visible()

    after = the_key()
    assert (after.status, after.revoke_reason, after.revoked_at) == ("active", None, None)
    with services_session() as s:
        names = s.exec(
            select(SignatureKey.name).where(SignatureKey.project_id == team.project_id)
        ).all()
    assert names == ["shared-key"]
    denied = denied_events(team.project_id)[before:]
    assert [(e.actor_email, e.details["attempted"]) for e in denied] == [
        (team.viewer.email, "revoking a key"),
        (team.viewer.email, "generating a key"),
    ]
    assert denied[0].key_id == key.id


def test_member_of_another_project_gets_nothing_from_a_guessed_url(page: Page, team):
    sign_in(page, team.outsider.email)
    expect(page.get_by_role("heading", name="acl elsewhere · Keys")).to_be_visible()
    key = the_key()

    for path in (keys_url(team.project_id), audit_url(team.project_id)):
        goto(page, path)
        expect(page.get_by_role("alert")).to_contain_text(
            "Project not found, or you are not a member"
        )
        expect(page.get_by_role("row")).to_have_count(0)
        content = page.content()
        assert "shared-key" not in content and "acl payments" not in content
        assert str(key.id) not in content and "whsec_…" + key.key_hint not in content

    # Not in the project switcher either.
    page.get_by_role("button", name="Switch project").click()
    expect(page.get_by_role("menuitem", name="acl elsewhere")).to_be_visible()
    expect(page.get_by_role("menuitem", name="acl payments")).to_have_count(0)
