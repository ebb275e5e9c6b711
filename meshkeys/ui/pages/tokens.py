"""/settings/tokens: API tokens for the REST API and scripts."""

from __future__ import annotations

import reflex as rx

from meshkeys.models import Permission
from meshkeys.ui.components.common import confirm_alert, labelled_select
from meshkeys.ui.components.layout import empty_state, field_label, page_frame
from meshkeys.ui.components.secret_dialog import secret_dialog
from meshkeys.ui.components.text import clipped
from meshkeys.ui.state.tokens import ALL_PROJECTS, EXPIRY_CHOICES, TokenRow, TokensState


def _permission_box(permission: Permission) -> rx.Component:
    return rx.checkbox(
        permission.value,
        checked=TokensState.new_permissions.contains(permission.value),
        on_change=lambda checked: TokensState.set_permission(permission.value, checked),
        size="2",
    )


def create_dialog() -> rx.Component:
    """Name, scope (a project or all), permissions (checkboxes) and expiry of a new token."""
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(rx.icon("plus", size=16), "Create token")),
        rx.dialog.content(
            rx.dialog.title("Create an API token"),
            rx.dialog.description(
                "The token acts as you, narrowed to its scope: it never does more than your "
                "role in the project allows. Send it as 'Authorization: Bearer <token>'.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    field_label("Name", "token-name"),
                    rx.input(
                        id="token-name",
                        name="name",
                        placeholder="e.g. webhook-sender",
                        required=True,
                        max_length=200,
                        width="100%",
                        auto_focus=True,
                    ),
                    rx.text("Project", size="2", weight="medium"),
                    rx.select.root(
                        rx.select.trigger(aria_label="Project", width="100%"),
                        rx.select.content(
                            rx.select.item("All my projects", value=ALL_PROJECTS),
                            rx.foreach(
                                TokensState.nav_projects,
                                lambda p: rx.select.item(p.name, value=p.id),
                            ),
                        ),
                        value=TokensState.new_project,
                        on_change=TokensState.set_new_project,
                    ),
                    rx.el.fieldset(
                        rx.el.legend(rx.text("Permissions", size="2", weight="medium")),
                        rx.grid(
                            *[_permission_box(p) for p in Permission],
                            columns="2",
                            spacing="2",
                            padding_top="4px",
                        ),
                        style={"border": "none", "padding": "0", "margin": "0"},
                    ),
                    rx.text("Expires", size="2", weight="medium"),
                    labelled_select(
                        EXPIRY_CHOICES,
                        "Expires",
                        value=TokensState.new_expiry,
                        on_change=TokensState.set_new_expiry,
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button("Create", type="submit", loading=TokensState.busy == "create"),
                        justify="end",
                        width="100%",
                        spacing="2",
                    ),
                    spacing="3",
                    padding_top="8px",
                ),
                on_submit=TokensState.create,
                reset_on_submit=True,
            ),
            max_width="480px",
        ),
        open=TokensState.creating,
        on_open_change=TokensState.open_create,
    )


def token_row(t: TokenRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(clipped(t.name)),
        rx.table.cell(rx.code(t.prefix)),
        rx.table.cell(clipped(t.scope, "160px")),
        rx.table.cell(rx.text(t.permissions, size="1")),
        rx.table.cell(rx.text(t.expires, size="1")),
        rx.table.cell(rx.text(t.created, size="1")),
        rx.table.cell(rx.text(t.last_used, size="1")),
        rx.table.cell(
            rx.cond(
                t.active,
                rx.badge("active", color_scheme="green", variant="soft"),
                rx.cond(
                    t.expired,
                    rx.badge("expired", color_scheme="orange", variant="soft"),
                    rx.badge("revoked " + t.revoked, color_scheme="red", variant="soft"),
                ),
            )
        ),
        rx.table.cell(
            rx.cond(
                t.revoked == "",
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
                            for h in (
                                "Name",
                                "Prefix",
                                "Scope",
                                "Permissions",
                                "Expires",
                                "Created",
                                "Last used",
                                "Status",
                                "",
                            )
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
