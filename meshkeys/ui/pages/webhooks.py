"""/projects/[project_id]/webhooks: sign a payload, or verify a received webhook."""

from __future__ import annotations

import reflex as rx

from meshkeys.services.verification import NO_MATCH
from meshkeys.ui.components.key_actions import key_link
from meshkeys.ui.components.layout import field_label, page_frame
from meshkeys.ui.components.text import WRAP_ANYWHERE
from meshkeys.ui.state.webhooks import DEFAULT_URL, HeaderItem, KeyItem, WebhooksState

PROJECT = WebhooksState.current_project_id
# Code that wraps anywhere: a signature or a payload never widens the page.
WRAPPED_CODE = {"white_space": "pre-wrap", "word_break": "break-all", "display": "block"}


def _field(label: str, field_id: str, control: rx.Component) -> rx.Component:
    return rx.vstack(field_label(label, field_id), control, spacing="1", width="100%")


def _input(field_id: str, **props) -> rx.Component:
    return rx.input(id=field_id, name=field_id.removeprefix("sign-"), width="100%", **props)


def _copy(label: str, value, what: str) -> rx.Component:
    return rx.button(
        rx.icon("copy", size=14),
        label,
        size="1",
        variant="soft",
        type="button",
        on_click=[rx.set_clipboard(value), rx.toast.success(f"{what} copied.")],
    )


def signed_output() -> rx.Component:
    def header(item: HeaderItem) -> rx.Component:
        return rx.data_list.item(
            rx.data_list.label(item.name),
            rx.data_list.value(rx.code(item.value, style=WRAPPED_CODE)),
        )

    return rx.cond(
        WebhooksState.signed.length() > 0,
        rx.vstack(
            rx.hstack(
                rx.text("Headers", size="2", weight="medium"),
                rx.spacer(),
                _copy("Copy headers", WebhooksState.signed_text, "Headers"),
                width="100%",
                align="center",
            ),
            rx.data_list.root(
                rx.foreach(WebhooksState.signed, header),
                orientation="vertical",
                size="1",
                aria_label="Signed headers",
            ),
            rx.hstack(
                rx.text("curl", size="2", weight="medium"),
                rx.spacer(),
                _copy("Copy curl", WebhooksState.curl, "curl command"),
                width="100%",
                align="center",
            ),
            rx.code(
                WebhooksState.curl,
                aria_label="curl command",
                style=WRAPPED_CODE,
                padding="8px",
                width="100%",
            ),
            width="100%",
            spacing="2",
        ),
    )


def sign_card() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Sign a payload", size="4"),
                rx.text(
                    "The headers every active key of this project gives this payload, as your "
                    "sender would send them.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.cond(
                    ~WebhooksState.can_edit,
                    rx.callout(
                        "Viewers can't sign: signing needs the admin or owner role. You can "
                        "verify a webhook you received.",
                        icon="eye",
                        color_scheme="gray",
                        size="1",
                        role="note",
                        aria_label="Why signing is off",
                    ),
                ),
                _field(
                    "Payload",
                    "sign-payload",
                    rx.text_area(
                        id="sign-payload",
                        name="payload",
                        placeholder='{"type": "invoice.paid", "id": 42}',
                        rows="6",
                        width="100%",
                        required=True,
                    ),
                ),
                rx.hstack(
                    _field(
                        "Message id (optional)",
                        "sign-msg_id",
                        _input("sign-msg_id", placeholder="msg_… (generated)"),
                    ),
                    _field(
                        "Timestamp (optional)",
                        "sign-timestamp",
                        _input("sign-timestamp", placeholder="now", input_mode="numeric"),
                    ),
                    width="100%",
                    spacing="3",
                    flex_direction=["column", "row"],
                ),
                _field(
                    "Send to URL",
                    "sign-url",
                    _input("sign-url", default_value=DEFAULT_URL, type="url"),
                ),
                rx.button(
                    "Sign",
                    type="submit",
                    disabled=~WebhooksState.can_edit,
                    loading=WebhooksState.busy == "sign",
                ),
                signed_output(),
                spacing="3",
                width="100%",
            ),
            on_submit=WebhooksState.sign,
            reset_on_submit=False,
            width="100%",
        ),
        width="100%",
        min_width="0",
    )


def tried_key(key: KeyItem) -> rx.Component:
    return rx.list_item(
        rx.hstack(
            rx.text(key.name, style=WRAP_ANYWHERE),
            key_link(PROJECT, key.id, key.short_id),
            spacing="2",
            align="center",
            min_width="0",
        )
    )


def verdict() -> rx.Component:
    return rx.cond(
        WebhooksState.checked,
        rx.callout.root(
            rx.callout.icon(rx.icon(rx.cond(WebhooksState.valid, "circle-check", "circle-x"))),
            rx.callout.text(
                rx.vstack(
                    rx.text(WebhooksState.message, weight="medium", style=WRAP_ANYWHERE),
                    rx.cond(
                        WebhooksState.valid,
                        rx.hstack(
                            rx.text("Open key"),
                            key_link(
                                PROJECT, WebhooksState.matched.id, WebhooksState.matched.short_id
                            ),
                            spacing="2",
                            align="center",
                        ),
                    ),
                    rx.cond(
                        WebhooksState.reason == NO_MATCH,
                        rx.vstack(
                            rx.text("Keys tried (the project's active keys):", size="2"),
                            rx.unordered_list(
                                rx.foreach(WebhooksState.tried, tried_key),
                                aria_label="Keys tried",
                            ),
                            spacing="1",
                        ),
                    ),
                    spacing="2",
                    min_width="0",
                ),
            ),
            color_scheme=rx.cond(WebhooksState.valid, "green", "red"),
            role="status",
            aria_label="Verification result",
            width="100%",
        ),
    )


def verify_card() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Verify a webhook", size="4"),
                rx.text(
                    "Paste the headers and the body you received: the tester says which key "
                    "signed it, or exactly why it fails.",
                    size="2",
                    color_scheme="gray",
                ),
                _field(
                    "Received headers",
                    "verify-headers",
                    rx.text_area(
                        id="verify-headers",
                        name="headers",
                        placeholder="webhook-id: msg_…\nwebhook-timestamp: 1767225600\n"
                        "webhook-signature: v1,…",
                        rows="4",
                        width="100%",
                        required=True,
                    ),
                ),
                _field(
                    "Received payload",
                    "verify-payload",
                    rx.text_area(
                        id="verify-payload",
                        name="payload",
                        rows="6",
                        width="100%",
                        required=True,
                    ),
                ),
                rx.button(
                    "Verify", type="submit", variant="soft", loading=WebhooksState.busy == "verify"
                ),
                verdict(),
                spacing="3",
                width="100%",
            ),
            on_submit=WebhooksState.verify,
            reset_on_submit=False,
            width="100%",
        ),
        width="100%",
        min_width="0",
    )


def webhooks_page() -> rx.Component:
    return page_frame(
        rx.grid(
            sign_card(),
            verify_card(),
            grid_template_columns=[
                "minmax(0, 1fr)",
                "minmax(0, 1fr)",
                "minmax(0, 1fr)",
                "repeat(2, minmax(0, 1fr))",
            ],
            spacing="4",
            width="100%",
        ),
        title=rx.cond(
            WebhooksState.current_project_name != "",
            WebhooksState.current_project_name + " · Webhook tester",
            "Webhook tester",
        ),
        project_page=True,
    )
