"""/projects/[project_id]/keys: the signing keys of a project."""

from __future__ import annotations

import reflex as rx

from meshkeys.services.keys import MAX_SIGNING_KEYS
from meshkeys.ui.components import lite
from meshkeys.ui.components.common import labelled_select, page_buttons
from meshkeys.ui.components.key_actions import (
    key_action_buttons,
    key_action_dialogs,
    key_dialog,
    key_id_with_copy,
    key_link,
    status_badge,
    viewer_hint,
)
from meshkeys.ui.components.layout import empty_state, error_callout, field_label, page_frame
from meshkeys.ui.state.keys import KEY_TYPE_CHOICES, KeyRow, KeysState


def secret_cell(row: KeyRow) -> rx.Component:
    """The masked secret; for an ed25519 key also its public key (not a secret), copyable.
    An HMAC row draws the masked secret alone: no stack or branch per row to render."""
    masked = lite.code(row.masked, variant="ghost")
    return rx.cond(
        row.public_key != "",
        lite.vstack(
            masked,
            lite.hstack(
                lite.badge("ed25519", variant="outline"),
                lite.clipped(
                    row.public_key,
                    "180px",
                    size="1",
                    class_name="mk-mono",
                    aria_label="Public key of " + row.name,
                ),
                lite.icon_button(
                    "copy",
                    aria_label="Copy public key of " + row.name,
                    on_click=[
                        rx.set_clipboard(row.public_key),
                        rx.toast.success("Public key copied. It is not a secret."),
                    ],
                ),
            ),
        ),
        masked,
    )


def key_row(row: KeyRow) -> rx.Component:
    """One key: drawn by ``lite`` (Radix Themes' markup without its components), since a
    page draws 50 of them on every Next and Previous."""
    return lite.row(
        lite.row_header(lite.clipped(row.name, weight="medium")),
        lite.cell(
            key_id_with_copy(row.id, key_link(KeysState.current_project_id, row.id, row.short_id))
        ),
        lite.cell(secret_cell(row)),
        lite.cell(status_badge(row.status)),
        lite.cell(lite.text(row.created, size="1")),
        lite.cell(
            lite.text(row.ended, size="1"),
            rx.cond(
                row.rotation != "",
                lite.text(
                    row.rotation,
                    size="1",
                    color="gray",
                    title="Rotation policy: " + row.rotates_at,
                    class_name="key-rotation",
                ),
            ),
        ),
        rx.cond(
            KeysState.can_edit,
            lite.cell(key_action_buttons(KeysState, row.id, row.name, row.status, row.reason)),
        ),
        aria_label=row.name,
    )


def totals() -> rx.Component:
    def tile(label: str, value, color: str) -> rx.Component:
        return rx.card(
            rx.vstack(
                rx.text(label, size="1", color_scheme="gray"),
                rx.heading(value, size="5", color_scheme=color),
                spacing="0",
            ),
            aria_label=f"{label} keys",
            min_width="120px",
        )

    return rx.vstack(
        rx.hstack(
            tile("Active", KeysState.total_active, "green"),
            tile("Expiring", KeysState.total_expiring, "amber"),
            tile("Revoked", KeysState.total_revoked, "red"),
            tile("Total", KeysState.total_keys, "gray"),
            spacing="3",
            wrap="wrap",
        ),
        rx.cond(
            KeysState.signing_keys > MAX_SIGNING_KEYS,
            rx.callout(
                f"Only the {MAX_SIGNING_KEYS} newest active keys sign and verify webhooks. "
                "Revoke the keys your receivers no longer use.",
                icon="triangle-alert",
                color_scheme="amber",
                role="status",
            ),
        ),
        spacing="3",
        width="100%",
    )


def toolbar() -> rx.Component:
    return rx.hstack(
        rx.form(
            rx.hstack(
                rx.input(
                    name="q",
                    placeholder="Search by name or id prefix",
                    aria_label="Search keys",
                    default_value=KeysState.query,
                    width="280px",
                    key=KeysState.query,
                ),
                rx.button("Search", type="submit", variant="soft"),
                spacing="2",
            ),
            on_submit=KeysState.search,
        ),
        labelled_select(
            [("all", "all statuses"), ("active", "active"), ("revoked", "revoked")],
            "Status filter",
            value=KeysState.status_filter,
            on_change=KeysState.set_status_filter,
        ),
        rx.cond(
            (KeysState.query != "") | (KeysState.status_filter != "all"),
            rx.button("Clear filters", variant="ghost", on_click=KeysState.clear_search),
        ),
        rx.spacer(),
        rx.cond(
            KeysState.can_edit,
            rx.button(
                rx.icon("plus", size=16),
                "Generate key",
                on_click=KeysState.open_dialog("generate", "", ""),
            ),
        ),
        width="100%",
        align="center",
        spacing="3",
        wrap="wrap",
    )


def pager() -> rx.Component:
    return rx.hstack(
        rx.text(
            "Showing ",
            KeysState.first_shown,
            "–",
            KeysState.last_shown,
            " of ",
            KeysState.matching,
            rx.cond((KeysState.query != "") | (KeysState.status_filter != "all"), " matching", ""),
            " keys",
            size="2",
            color_scheme="gray",
        ),
        rx.spacer(),
        *page_buttons(KeysState),
        width="100%",
        align="center",
        spacing="2",
    )


def keys_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("Name"),
                rx.table.column_header_cell("Id"),
                rx.table.column_header_cell("Secret"),
                rx.table.column_header_cell("Status"),
                rx.table.column_header_cell("Created"),
                rx.table.column_header_cell("Revoked / expires / rotates"),
                rx.cond(KeysState.can_edit, rx.table.column_header_cell("Actions")),
            )
        ),
        rx.table.body(rx.foreach(KeysState.rows, key_row)),
        variant="surface",
        size="1",
        width="100%",
        aria_label="Signing keys",
    )


def dialogs() -> rx.Component:
    return rx.fragment(
        key_dialog(
            KeysState,
            "generate",
            "Generate a signing key",
            "The new key starts signing webhooks of this project at once.",
            rx.vstack(
                field_label("Name", "key-name"),
                rx.input(
                    id="key-name",
                    name="name",
                    placeholder="e.g. production",
                    required=True,
                    auto_focus=True,
                    width="100%",
                ),
                spacing="1",
                width="100%",
            ),
            rx.vstack(
                rx.text("Type", size="2", weight="medium"),
                labelled_select(
                    KEY_TYPE_CHOICES,
                    "Key type",
                    name="type",
                    default_value=KEY_TYPE_CHOICES[0][0],
                ),
                rx.text(
                    "Ed25519 keys sign Standard Webhooks v1a: receivers verify with a public "
                    "key they may fetch from this project's public-keys endpoint.",
                    size="1",
                    color_scheme="gray",
                ),
                spacing="1",
                width="100%",
            ),
            confirm="Generate",
        ),
        key_action_dialogs(KeysState),
    )


def keys_list() -> rx.Component:
    """The table and its pager, or why there is nothing to show."""
    return rx.cond(
        KeysState.rows.length() > 0,
        rx.vstack(keys_table(), pager(), width="100%", spacing="3"),
        rx.cond(
            KeysState.loading,
            rx.center(rx.spinner(size="3"), padding="40px", width="100%"),
            rx.cond(
                (KeysState.query != "") | (KeysState.status_filter != "all"),
                empty_state(
                    "search-x",
                    "No key matches",
                    "Try another name or id prefix, or clear the filters.",
                    rx.button("Clear filters", variant="soft", on_click=KeysState.clear_search),
                ),
                empty_state(
                    "key-round",
                    "No signing keys yet",
                    rx.cond(
                        KeysState.can_edit,
                        "Generate the first key, then give its secret to the receivers "
                        "of your webhooks.",
                        "An owner or admin of this project can generate the first key.",
                    ),
                ),
            ),
        ),
    )


def keys_page() -> rx.Component:
    return page_frame(
        totals(),
        rx.cond(KeysState.role == "viewer", viewer_hint()),
        toolbar(),
        rx.cond(
            KeysState.search_error != "",
            error_callout(KeysState.search_error, aria_label="Search error"),
            keys_list(),
        ),
        dialogs(),
        title=rx.cond(
            KeysState.current_project_name != "", KeysState.current_project_name + " · Keys", "Keys"
        ),
        project_page=True,
    )
