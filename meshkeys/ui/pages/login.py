"""/login: the sign-in form, or the first-run "Create the first admin account" form."""

from __future__ import annotations

import reflex as rx

from meshkeys.ui.components.layout import error_callout, field_label, post_json, signed_out_frame
from meshkeys.ui.state.login import LoginState


def _field(label: str, name: str, type_: str = "text", **props) -> rx.Component:
    return rx.vstack(
        field_label(label, f"login-{name}"),
        rx.input(id=f"login-{name}", name=name, type=type_, width="100%", required=True, **props),
        spacing="1",
        width="100%",
    )


def _error() -> rx.Component:
    return rx.cond(
        LoginState.error != "",
        error_callout(LoginState.error, icon="circle-alert", size="1"),
    )


def _posting_form(form_id: str, route: str, submit: str, *fields: rx.Component) -> rx.Component:
    """A form the browser posts to a session route itself: the password skips the websocket."""
    return rx.form(
        rx.vstack(
            *fields,
            _error(),
            rx.button(submit, type="submit", width="100%", loading=LoginState.busy != ""),
            spacing="3",
            width="100%",
        ),
        id=form_id,
        on_submit=[
            LoginState.start,
            rx.call_function(post_json(route, form_id), callback=LoginState.finished),
        ],
        reset_on_submit=False,
    )


def sign_in_form() -> rx.Component:
    return _posting_form(
        "login-form",
        "/auth/login",
        "Sign in",
        rx.heading("Sign in to meshkeys", size="6"),
        _field("Email", "email", "email", auto_complete="username"),
        _field("Password", "password", "password", auto_complete="current-password"),
        rx.el.input(type="hidden", name="next", value=LoginState.next_path),
    )


def setup_form() -> rx.Component:
    return _posting_form(
        "setup-form",
        "/auth/setup",
        "Create account",
        rx.heading("Create the first admin account", size="6"),
        rx.text(
            "meshkeys has no users yet. This account becomes the owner of your first project; "
            "add more people from the Projects page afterwards.",
            size="2",
            color_scheme="gray",
        ),
        _field("Email", "email", "email", auto_complete="username"),
        _field(
            "Password",
            "password",
            "password",
            auto_complete="new-password",
            min_length=10,
            placeholder="At least 10 characters",
        ),
        _field("First project", "project_name", default_value="My first project"),
    )


def login_page() -> rx.Component:
    return signed_out_frame(
        LoginState.checked, rx.cond(LoginState.needs_setup, setup_form(), sign_in_form())
    )
