"""/invite/[invite_token]: set a password through a one-time invite link and join the project."""

from __future__ import annotations

import reflex as rx

from meshkeys.ui.components.layout import error_callout, field_label, post_json, signed_out_frame
from meshkeys.ui.state.invite import InviteState

FORM_ID = "invite-form"


def _accept_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Join " + InviteState.project_name, size="6"),
            rx.text(
                "You are invited as ",
                rx.text.strong(InviteState.invited_role),
                ". Choose a password for ",
                rx.text.strong(InviteState.email),
                " to create your account. The link works once, until ",
                InviteState.expires,
                ".",
                size="2",
                color_scheme="gray",
            ),
            rx.vstack(
                field_label("Password", "invite-password"),
                rx.input(
                    id="invite-password",
                    name="password",
                    type="password",
                    auto_complete="new-password",
                    min_length=10,
                    placeholder="At least 10 characters",
                    required=True,
                    width="100%",
                ),
                spacing="1",
                width="100%",
            ),
            rx.el.input(type="hidden", name="token", value=InviteState.invite_token),
            rx.cond(
                InviteState.error != "",
                error_callout(InviteState.error, icon="circle-alert", size="1"),
            ),
            rx.button(
                "Create account and join",
                type="submit",
                width="100%",
                loading=InviteState.busy != "",
            ),
            spacing="3",
            width="100%",
        ),
        id=FORM_ID,
        on_submit=[
            InviteState.start,
            rx.call_function(post_json("/auth/invite", FORM_ID), callback=InviteState.finished),
        ],
        reset_on_submit=False,
    )


def _refused() -> rx.Component:
    return rx.vstack(
        rx.heading("This invite link cannot be used", size="6"),
        rx.callout(InviteState.invalid, icon="link-2-off", color_scheme="amber", role="alert"),
        rx.link("Go to sign in", href="/login"),
        spacing="3",
        width="100%",
    )


def invite_page() -> rx.Component:
    return signed_out_frame(
        InviteState.checked, rx.cond(InviteState.invalid != "", _refused(), _accept_form())
    )
