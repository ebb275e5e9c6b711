"""/settings/tokens: API tokens for the REST API and scripts."""

from __future__ import annotations

import reflex as rx

from meshkeys.ui.components.common import confirm_alert, name_dialog
from meshkeys.ui.components.layout import empty_state, page_frame
from meshkeys.ui.components.secret_dialog import secret_dialog
from meshkeys.ui.components.text import clipped
from meshkeys.ui.state.tokens import TokenRow, TokensState


def create_dialog() -> rx.Component:
    return name_dialog(
        trigger="Create token",
        title="Create an API token",
        description="The token acts as you, with your role in each project. Send it as "
        "'Authorization: Bearer <token>'.",
        field_id="token-name",
        placeholder="e.g. ci-deploy",
        confirm="Create",
        on_submit=TokensState.create,
        is_open=TokensState.creating,
        on_open_change=TokensState.set_creating,
        loading=TokensState.busy == "create",
    )


def token_row(t: TokenRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(clipped(t.name)),
        rx.table.cell(rx.code(t.prefix)),
        rx.table.cell(rx.text(t.created, size="1")),
        rx.table.cell(rx.text(t.last_used, size="1")),
        rx.table.cell(
            rx.cond(
                t.active,
                rx.badge("active", color_scheme="green", variant="soft"),
                rx.badge("revoked " + t.revoked, color_scheme="red", variant="soft"),
            )
        ),
        rx.table.cell(
            rx.cond(
                t.active,
                rx.button(
                    "Revoke",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=TokensState.ask_revoke(t.id, t.name),
                ),
            )
        ),
        aria_label=t.name,
    )


def revoke_dialog() -> rx.Component:
    return confirm_alert(
        title="Revoke token " + TokensState.revoke_name + "?",
        description="Scripts using it get 401 from now on. This cannot be undone.",
        confirm="Revoke token",
        on_confirm=TokensState.revoke,
        is_open=TokensState.revoke_id != "",
        on_open_change=TokensState.cancel_revoke,
        loading=TokensState.busy == "revoke",
    )


def tokens_page() -> rx.Component:
    return page_frame(
        rx.hstack(
            rx.text(
                "Tokens for the REST API and the CLI's scripts. Only a hash is stored.",
                size="2",
                color_scheme="gray",
            ),
            rx.spacer(),
            create_dialog(),
            width="100%",
            align="center",
        ),
        rx.cond(
            TokensState.rows.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Name", "Prefix", "Created", "Last used", "Status", "")
                        ]
                    )
                ),
                rx.table.body(rx.foreach(TokensState.rows, token_row)),
                variant="surface",
                size="1",
                width="100%",
                aria_label="API tokens",
            ),
            rx.cond(
                TokensState.loading,
                rx.center(rx.spinner(size="3"), padding="40px", width="100%"),
                empty_state(
                    "ticket",
                    "No API tokens yet",
                    "Create a token to call the REST API (e.g. POST /keys/generate) "
                    "from scripts and CI.",
                ),
            ),
        ),
        revoke_dialog(),
        secret_dialog("token"),
        title="API tokens",
    )
