"""The dialog that shows a secret once, with Copy and Download (the value never enters state)."""

from __future__ import annotations

import reflex as rx

from meshkeys.ui.components.text import WRAP_ANYWHERE
from meshkeys.ui.state.secret import (
    CLOSING_SECRET,
    SHOWN_SECRET,
    SHOWN_SECRET_FILENAME,
    SHOWN_SECRET_TITLE,
)

# What the dialog says about seeing the value again: true for each kind of secret.
AFTERWARDS = {
    "secret": (
        "Copy the secret now and store it safely. Afterwards the keys list shows only its last 4 "
        "characters; an owner or admin can reveal it again, and every reveal is recorded in the "
        "audit log."
    ),
    "token": (
        "Copy the token now and store it safely: it will not be shown again. meshkeys keeps only "
        "its hash; the tokens list shows its first 7 characters to tell tokens apart."
    ),
    "invite": (
        "Copy the link now and send it to them: it will not be shown again (meshkeys keeps only "
        "its hash). It works once, for 7 days; if it is lost, create a new one."
    ),
}

# The question "Close" asks first: true for each kind of secret.
CLOSING = {
    "secret": (
        "Have you copied the secret? It will not be shown in full here again; owners and "
        "admins can reveal it later."
    ),
    "token": "Have you copied the token? It will not be shown again: meshkeys keeps only its hash.",
    "invite": "Have you copied the link? It will not be shown again; you can create a new one.",
}


def secret_dialog(what: str = "secret") -> rx.Component:
    """The dialog for a key's secret (``what="secret"``) or a new API token (``"token"``)."""
    secret = SHOWN_SECRET.value
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(SHOWN_SECRET_TITLE.value, style=WRAP_ANYWHERE),
            rx.dialog.description(AFTERWARDS[what], size="2"),
            rx.vstack(
                rx.code(
                    secret,
                    id="shown-secret",
                    aria_label=f"The new {what}",
                    size="3",
                    style={"word_break": "break-all", "user_select": "all"},
                    width="100%",
                    padding="8px",
                ),
                rx.hstack(
                    rx.button(
                        rx.icon("copy", size=16),
                        "Copy",
                        on_click=[
                            rx.set_clipboard(secret),
                            rx.toast.success("Copied to the clipboard."),
                        ],
                    ),
                    rx.button(
                        rx.icon("download", size=16),
                        "Download",
                        variant="soft",
                        on_click=rx.download(
                            data="data:text/plain;charset=utf-8," + secret + "%0A",
                            filename=SHOWN_SECRET_FILENAME.value,
                        ),
                    ),
                    rx.spacer(),
                    rx.button(
                        "Close",
                        variant="outline",
                        color_scheme="gray",
                        on_click=CLOSING_SECRET.set_value(True),
                    ),
                    width="100%",
                    spacing="2",
                ),
                rx.cond(
                    CLOSING_SECRET.value,
                    rx.callout(
                        rx.vstack(
                            rx.text(CLOSING[what], size="2"),
                            rx.hstack(
                                rx.button(
                                    "Go back",
                                    variant="soft",
                                    on_click=CLOSING_SECRET.set_value(False),
                                    auto_focus=True,
                                ),
                                rx.button(
                                    "Close anyway",
                                    color_scheme="red",
                                    variant="soft",
                                    on_click=[
                                        CLOSING_SECRET.set_value(False),
                                        SHOWN_SECRET.set_value(""),
                                    ],
                                ),
                                spacing="2",
                            ),
                            spacing="2",
                        ),
                        icon="triangle-alert",
                        color_scheme="amber",
                        role="alertdialog",
                        aria_label="Close the secret?",
                        width="100%",
                    ),
                ),
                spacing="3",
                padding_top="12px",
            ),
            max_width="560px",
            # A secret shown once must not vanish by accident: only "Close", then "Close anyway"
            # closes the dialog, not Escape nor a click beside it.
            on_escape_key_down=rx.prevent_default,
            on_pointer_down_outside=rx.prevent_default,
            on_interact_outside=rx.prevent_default,
        ),
        open=secret != "",
        on_open_change=[CLOSING_SECRET.set_value(False), SHOWN_SECRET.set_value("")],
    )
