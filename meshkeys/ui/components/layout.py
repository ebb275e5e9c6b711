"""The frame of every signed-in page: sidebar, top bar, project switcher, dark mode, sign out."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import Var
from reflex_base.vars.base import VarData

from meshkeys.ui.components.text import WRAP_ANYWHERE, clipped
from meshkeys.ui.state.session import ProjectItem, SessionState

# The backend's base URL as the frontend computes it (same host as the page in production).
_BACKEND = Var(
    _js_expr="getBackendURL(env.PING)",
    _var_data=VarData(
        imports={
            "$/utils/state": ["getBackendURL"],
            "$/env.json": rx.ImportVar(tag="env", is_default=True),
        }
    ),
)


def post_json(path: str, form_id: str | None = None) -> Var:
    """A JS function that POSTs a form (as JSON) to a session route and follows its ``next``.

    It resolves to ``{ok, detail}``; on success it navigates with a full page load, so the
    new websocket carries the new cookie.
    """
    body = (
        f"JSON.stringify(Object.fromEntries(new FormData(document.getElementById({form_id!r}))))"
        if form_id
        else "'{}'"
    )
    return Var(
        _js_expr=(
            "(async () => {"
            f"  const url = new URL({path!r}, {_BACKEND!s});"
            "  try {"
            "    const r = await fetch(url, {method: 'POST', credentials: 'include',"
            "      headers: {'Content-Type': 'application/json'},"
            f"      body: {body}}});"
            "    const data = await r.json().catch(() => ({}));"
            "    if (r.ok) {"
            " window.location.assign(data.next || '/'); return {ok: true, detail: ''}; }"
            "    const detail = typeof data.detail === 'string' ? data.detail"
            "      : 'Check the form: ' + JSON.stringify(data.detail || r.status);"
            "    return {ok: false, detail: detail};"
            "  } catch (e) { return {ok: false,"
            " detail: 'Cannot reach meshkeys: ' + e + '. Is the server running?'}; }"
            "})"
        ),
        _var_data=_BACKEND._get_all_var_data(),
    )


def hydration_marker() -> rx.Component:
    """Hidden input the e2e tests wait on (tests/e2e/apprunner.py: wait_for_hydration)."""
    return rx.el.input(
        id="hydrated-token",
        type="hidden",
        value=rx.State.router.session.client_token,
        custom_attrs={"data-hydrated": rx.State.is_hydrated},
        read_only=True,
    )


def _nav_link(label: str, icon: str, href: str | Var) -> rx.Component:
    return rx.link(
        rx.hstack(rx.icon(icon, size=16), rx.text(label, size="2"), align="center", spacing="2"),
        href=href,
        underline="none",
        color_scheme="gray",
        high_contrast=True,
        padding_y="6px",
        padding_x="8px",
        border_radius="6px",
        _hover={"background": rx.color("gray", 4)},
    )


def project_switcher() -> rx.Component:
    def item(p: ProjectItem) -> rx.Component:
        return rx.menu.item(
            rx.hstack(
                clipped(p.name, "260px"), rx.badge(p.role, variant="soft", size="1"), spacing="2"
            ),
            on_click=SessionState.switch_project(p.id),
        )

    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.icon("folder-key", size=16),
                clipped(
                    rx.cond(
                        SessionState.current_project_name != "",
                        SessionState.current_project_name,
                        "Choose a project",
                    ),
                    ["90px", "160px", "280px"],
                ),
                rx.icon("chevron-down", size=14),
                variant="soft",
                aria_label="Switch project",
            )
        ),
        rx.menu.content(
            rx.foreach(SessionState.nav_projects, item),
            rx.menu.separator(),
            rx.menu.item("All projects…", on_click=rx.redirect("/projects")),
        ),
    )


def sign_out_button() -> rx.Component:
    return rx.button(
        rx.icon("log-out", size=16),
        "Sign out",
        variant="ghost",
        color_scheme="gray",
        on_click=rx.call_function(post_json("/auth/logout")),
    )


def sidebar() -> rx.Component:
    project = SessionState.current_project_id
    return rx.vstack(
        rx.hstack(
            rx.image(src="/logo.svg", alt="", width="24px", height="24px"),  # assets/logo.svg
            rx.heading("meshkeys", size="5"),
            align="center",
            spacing="2",
            padding_bottom="12px",
        ),
        rx.cond(
            project != "",
            rx.vstack(
                rx.text("Project", size="1", color_scheme="gray", weight="medium"),
                _nav_link("Keys", "key-round", "/projects/" + project + "/keys"),
                _nav_link("Audit log", "scroll-text", "/projects/" + project + "/audit"),
                _nav_link("Webhook tester", "webhook", "/projects/" + project + "/webhooks"),
                spacing="1",
                width="100%",
            ),
        ),
        rx.text("Account", size="1", color_scheme="gray", weight="medium", padding_top="12px"),
        _nav_link("Projects", "folders", "/projects"),
        _nav_link("API tokens", "ticket", "/settings/tokens"),
        spacing="1",
        width="200px",
        min_width="200px",
        padding="16px",
        border_right=f"1px solid {rx.color('gray', 5)}",
        min_height="100vh",
        display=["none", "none", "flex"],
        align="stretch",
    )


def nav_menu() -> rx.Component:
    """Below the sidebar's breakpoint (phones, narrow windows): the same links in a menu."""
    project = SessionState.current_project_id

    def item(label: str, icon: str, href: str | Var) -> rx.Component:
        return rx.menu.item(
            rx.hstack(rx.icon(icon, size=14), rx.text(label), align="center", spacing="2"),
            on_click=rx.redirect(href),
        )

    return rx.box(
        rx.menu.root(
            rx.menu.trigger(
                rx.icon_button(rx.icon("menu", size=18), variant="ghost", aria_label="Menu")
            ),
            rx.menu.content(
                rx.cond(
                    project != "",
                    rx.fragment(
                        item("Keys", "key-round", "/projects/" + project + "/keys"),
                        item("Audit log", "scroll-text", "/projects/" + project + "/audit"),
                        item("Webhook tester", "webhook", "/projects/" + project + "/webhooks"),
                        rx.menu.separator(),
                    ),
                ),
                item("Projects", "folders", "/projects"),
                item("API tokens", "ticket", "/settings/tokens"),
            ),
        ),
        display=["block", "block", "none"],
    )


def top_bar() -> rx.Component:
    return rx.hstack(
        nav_menu(),
        project_switcher(),
        rx.spacer(),
        clipped(
            SessionState.user_email,
            "240px",
            size="2",
            color_scheme="gray",
            display=["none", "none", "block"],
        ),
        rx.color_mode.button(aria_label="Toggle dark mode", variant="ghost"),
        sign_out_button(),
        align="center",
        spacing=rx.breakpoints(initial="2", sm="3"),
        padding=["8px 12px", "12px 20px"],
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        width="100%",
        min_width="0",
    )


def signed_out_frame(ready: Var, body: rx.Component) -> rx.Component:
    """The frame of the pages seen before signing in (sign-in, first run, an invite): a card with
    the logo and ``body`` once ``ready`` (a spinner until then), and the dark mode switch."""
    return rx.center(
        hydration_marker(),
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("key-round", size=24),
                    rx.text("meshkeys", weight="bold", size="4"),
                    spacing="2",
                    align="center",
                ),
                rx.cond(ready, body, rx.center(rx.spinner(size="3"), padding="24px", width="100%")),
                spacing="4",
                width="100%",
            ),
            width="420px",
            max_width="100%",
            padding="24px",
        ),
        rx.box(
            rx.color_mode.button(aria_label="Toggle dark mode", variant="ghost"),
            position="fixed",
            top="12px",
            right="12px",
        ),
        min_height="100vh",
        padding="12px",
    )


def not_found_notice() -> rx.Component:
    return rx.callout(
        SessionState.not_found,
        icon="circle-alert",
        color_scheme="red",
        role="alert",
    )


def page_frame(
    *children: rx.Component, title: str | Var, project_page: bool = False
) -> rx.Component:
    body: list[rx.Component] = [rx.heading(title, size="6", style=WRAP_ANYWHERE)]
    if project_page:
        body.append(
            rx.cond(SessionState.not_found != "", not_found_notice(), rx.fragment(*children))
        )
    else:
        body.extend(children)
    return rx.hstack(
        hydration_marker(),
        sidebar(),
        rx.vstack(
            top_bar(),
            rx.vstack(
                *body,
                spacing="4",
                padding=["12px", "20px"],
                width="100%",
                max_width="1280px",
                min_width="0",
            ),
            spacing="0",
            width="100%",
            min_width="0",
            align="stretch",
        ),
        spacing="0",
        width="100%",
        align="start",
    )


def empty_state(icon: str, title: str, hint: str | Var, *actions: rx.Component) -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon(icon, size=32, color=rx.color("gray", 9)),
            rx.text(title, weight="bold", size="3"),
            rx.text(hint, size="2", color_scheme="gray", text_align="center"),
            *actions,
            align="center",
            spacing="2",
        ),
        padding="40px",
        border=f"1px dashed {rx.color('gray', 6)}",
        border_radius="8px",
        width="100%",
    )


def field_label(text: str, html_for: str) -> rx.Component:
    """A real <label for=...>: screen readers and Playwright's get_by_label find the input."""
    return rx.el.label(rx.text(text, size="2", weight="medium"), html_for=html_for)


def error_callout(message: Var, *, icon: str = "triangle-alert", **props: Any) -> rx.Component:
    """A red callout announced to screen readers (``role="alert"``): why a form or a view
    could not be used, in the page's own words."""
    return rx.callout(message, icon=icon, color_scheme="red", role="alert", width="100%", **props)
