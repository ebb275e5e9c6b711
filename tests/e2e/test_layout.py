"""Issue 9, defects 1 and 2: no page is wider than the window, from a phone to a desktop, even
with names of 200 characters and no spaces; long names are cut with an ellipsis and shown whole
on hover."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from meshkeys.services import auth, key_commands, projects
from tests.e2e.pages import signed_in_pages
from tests.e2e.support import goto, make_team, new_context, sign_in
from tests.helpers import call

LONG = "x" * 200
WIDTHS = (360, 390, 768, 1366)


@pytest.fixture(scope="module")
def team(app):
    team = make_team("wide")
    project = call(projects.create_project, team.owner, name="p" + LONG[1:])
    team.key = call(key_commands.generate_key, team.owner, project_id=team.project_id, name=LONG)
    call(key_commands.generate_key, team.owner, project_id=project.id, name=LONG)
    call(auth.create_api_token, team.owner, name="t" + LONG[1:])
    return team


def fill_the_tester(page: Page) -> None:
    """Signed headers and a curl of a long payload without spaces, and a failed verification
    listing the key of 200 characters it tried."""
    page.get_by_label("Payload", exact=True).fill("y" * 500)
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_label("curl command")).to_contain_text("y" * 500)
    stamp = page.evaluate("Math.floor(Date.now() / 1000)")
    headers = f"webhook-id: {'i' * 150}\nwebhook-timestamp: {stamp}\nwebhook-signature: v1,AAAA"
    page.get_by_label("Received headers").fill(headers)
    page.get_by_label("Received payload").fill("z" * 500)
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.get_by_label("Keys tried")).to_contain_text(LONG)
    # Wrapped, not cut off unseen by a card that hides what overflows it.
    for label in ("curl command", "Signed headers", "Verification result"):
        fits = "e => [...e.querySelectorAll('*'), e].every(n => n.scrollWidth <= n.clientWidth + 1)"
        assert page.get_by_label(label).evaluate(fits), f"{label} is wider than its box"


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_is_wider_than_the_window(browser, app, team, width: int):
    context = new_context(browser, app, viewport={"width": width, "height": 800})
    page = context.new_page()
    sign_in(page, team.owner.email)
    too_wide = []
    for path, heading in signed_in_pages(team.project_id, "wide payments", (team.key.id, LONG)):
        goto(page, path)
        page.wait_for_load_state("networkidle")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        if path.endswith("/webhooks"):
            fill_the_tester(page)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            too_wide.append((path, scroll))
    assert too_wide == [], f"wider than {width} px: {too_wide}"
    expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport()
    context.close()


def test_a_long_name_is_cut_and_shown_whole_on_hover(browser, app, team):
    context = new_context(browser, app, viewport={"width": 1366, "height": 800})
    page: Page = context.new_page()
    sign_in(page, team.owner.email)
    goto(page, f"/projects/{team.project_id}/keys")
    name = page.get_by_role("row", name=LONG).get_by_title(LONG)
    expect(name).to_be_visible()
    box = name.bounding_box()
    assert box is not None and box["width"] < 600
    # Cut, with an ellipsis: not drawn past its box over the next column.
    drawn = name.evaluate(
        "e => { const s = getComputedStyle(e);"
        " return [s.overflowX, s.textOverflow, s.whiteSpace, e.scrollWidth > e.clientWidth]; }"
    )
    assert drawn == ["hidden", "ellipsis", "nowrap", True]
    context.close()


def test_a_name_over_200_characters_is_refused_not_cut(browser, app, team):
    """Issue 9, defect 1: the form no longer cuts what was typed at 200 characters without a
    word; the service refuses the name and says what it accepts, and nothing is created."""
    context = new_context(browser, app, viewport={"width": 1366, "height": 800})
    page: Page = context.new_page()
    sign_in(page, team.owner.email)
    goto(page, f"/projects/{team.project_id}/keys")
    page.get_by_role("button", name="Generate key").click()
    page.get_by_label("Name").fill("y" * 201)
    assert len(page.get_by_label("Name").input_value()) == 201
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(
        page.get_by_text("Give the key a name of 1 to 200 printable characters.")
    ).to_be_visible()
    expect(page.get_by_role("dialog")).to_contain_text("Generate a signing key")
    expect(page.locator("#shown-secret")).to_have_count(0)
    context.close()


def test_a_phone_reaches_every_page_through_the_menu(browser, app, team):
    """Below the sidebar's breakpoint the sidebar is hidden: the top bar's Menu holds its
    links (a phone could reach only the keys page before)."""
    context = new_context(browser, app, viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, team.owner.email)
    goto(page, f"/projects/{team.project_id}/keys")
    expect(page.get_by_role("link", name="Audit log")).to_be_hidden()
    for name, path, heading in (
        ("Audit log", f"/projects/{team.project_id}/audit", "wide payments · Audit log"),
        (
            "Webhook tester",
            f"/projects/{team.project_id}/webhooks",
            "wide payments · Webhook tester",
        ),
        ("Keys", f"/projects/{team.project_id}/keys", "wide payments · Keys"),
        ("API tokens", "/settings/tokens", "API tokens"),
    ):
        page.get_by_role("button", name="Menu").click()
        page.get_by_role("menuitem", name=name).click()
        page.wait_for_url(f"**{path}*")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    context.close()
    wide = new_context(browser, app, viewport={"width": 1366, "height": 800})
    desk = wide.new_page()
    sign_in(desk, team.owner.email)
    expect(desk.get_by_role("button", name="Menu")).to_be_hidden()
    expect(desk.get_by_role("link", name="Audit log")).to_be_visible()
    wide.close()


# What Radix Themes' stylesheet draws for the classes ui/components/lite.py writes on each key
# row: a button of size 1 is 24 px high with 12 px text, a soft variant has a background, a
# ghost icon button has Reflex's 6 px padding and neither border nor background, a flex row
# its gap. An unstyled <button>, <code>
# or <span> (a class renamed by a Radix release) fails every line.
ROW_STYLE = """row => {
  const s = (sel, ...props) => { const e = row.querySelector(sel); const c = getComputedStyle(e);
    return Object.fromEntries(props.map(p => [p, c[p]])); };
  const clear = 'rgba(0, 0, 0, 0)';
  const revoke = s('button[data-accent-color=red]', 'height', 'fontSize', 'backgroundColor',
                   'borderRadius', 'display', 'color');
  const copy = s('button[aria-label^="Copy id"]', 'paddingLeft', 'borderTopWidth',
                 'backgroundColor');
  const badge = s('[aria-label^="status"]', 'fontSize', 'backgroundColor', 'display');
  const id = s('a.key-link code', 'backgroundColor', 'fontFamily');
  const name = s('th p', 'fontWeight');
  const cell = s('td', 'paddingLeft', 'borderBottomStyle');
  const flex = s('td div', 'display', 'columnGap');
  return {
    revoke: [revoke.height, revoke.fontSize, revoke.backgroundColor !== clear,
             revoke.borderRadius !== '0px', revoke.display, revoke.color !== 'rgb(0, 0, 0)'],
    copy: [copy.paddingLeft, copy.borderTopWidth, copy.backgroundColor],
    badge: [badge.fontSize, badge.backgroundColor !== clear, badge.display],
    id: [id.backgroundColor !== clear, id.fontFamily.includes('mono')],
    name: name.fontWeight, cell: [cell.paddingLeft !== '0px', cell.borderBottomStyle],
    flex: [flex.display, flex.columnGap],
  };
}"""


def test_a_key_row_is_drawn_with_radix_themes_styles(browser, app, team):
    """The key rows are plain elements with Radix Themes' classes (ui/components/lite.py, for
    speed); they must still look like the Radix components they replace."""
    context = new_context(browser, app, viewport={"width": 1366, "height": 800})
    page: Page = context.new_page()
    sign_in(page, team.owner.email)
    goto(page, f"/projects/{team.project_id}/keys")
    row = page.get_by_role("row", name=LONG)
    expect(row.get_by_role("button", name="Revoke")).to_be_visible()
    assert row.evaluate(ROW_STYLE) == {
        "revoke": ["24px", "12px", True, True, "flex", True],
        "copy": ["6px", "0px", "rgba(0, 0, 0, 0)"],
        "badge": ["12px", True, "inline-flex"],
        "id": [True, True],
        "name": "500",
        "cell": [True, "solid"],
        "flex": ["flex", "4px"],
    }
    context.close()
