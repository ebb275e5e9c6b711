"""/projects/[project_id]/keys/[key_id]: one key, its audit history and the actions."""

from __future__ import annotations

import reflex as rx

from meshkeys.ui.components.common import page_buttons
from meshkeys.ui.components.key_actions import (
    key_action_buttons,
    key_action_dialogs,
    key_id_with_copy,
    status_badge,
    viewer_hint,
)
from meshkeys.ui.components.layout import empty_state, page_frame
from meshkeys.ui.components.text import WRAP_ANYWHERE
from meshkeys.ui.state.audit import EventRow
from meshkeys.ui.state.key_page import KeyPageState

KEY = KeyPageState.key


def _item(label: str, *value: rx.Component) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label, min_width="120px"),
        rx.data_list.value(*value, style=WRAP_ANYWHERE),
        align="center",
    )


def fields() -> rx.Component:
    return rx.card(
        rx.data_list.root(
            _item("Name", rx.text(KEY.name, style=WRAP_ANYWHERE)),
            _item(
                "Id",
                key_id_with_copy(KEY.id, rx.code(KEY.id, style=WRAP_ANYWHERE)),
            ),
            _item("Type", rx.text(KEY.type)),
            _item("Secret", rx.code(KEY.masked, variant="ghost")),
            rx.cond(
                KEY.public_key != "",
                _item(
                    "Public key",
                    rx.hstack(
                        rx.code(KEY.public_key, style=WRAP_ANYWHERE),
                        rx.icon_button(
                            rx.icon("copy", size=14),
                            size="1",
                            variant="ghost",
                            aria_label="Copy public key",
                            on_click=[
                                rx.set_clipboard(KEY.public_key),
                                rx.toast.success("Public key copied."),
                            ],
                        ),
                        spacing="2",
                        align="center",
                    ),
                ),
            ),
            _item(
                "Status",
                rx.hstack(
                    status_badge(KEY.status),
                    rx.cond(
                        KEY.reason != "",
                        rx.text("reason: " + KEY.reason, size="2", aria_label="Revoke reason"),
                    ),
                    spacing="2",
                    align="center",
                ),
            ),
            _item("Created", rx.text(KEY.created + " by " + KEY.created_by)),
            rx.cond(
                KEY.ended != "",
                _item(rx.cond(KEY.status == "expiring", "Expires", "Revoked"), rx.text(KEY.ended)),
            ),
            rx.cond(
                KEY.rotation != "",
                _item("Rotation", rx.text(KEY.rotation, title=KEY.rotates_at)),
            ),
            orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
            size="2",
        ),
        width="100%",
        aria_label="Key details",
    )


def actions() -> rx.Component:
    return rx.cond(
        KeyPageState.can_edit,
        key_action_buttons(KeyPageState, KEY.id, KEY.name, KEY.status, KEY.reason, size="2"),
        rx.cond(KeyPageState.role == "viewer", viewer_hint()),
    )


def history_row(row: EventRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.when, size="1", white_space="nowrap")),
        rx.table.cell(rx.text(row.actor, size="1", style=WRAP_ANYWHERE)),
        rx.table.row_header_cell(rx.badge(row.action, variant="soft")),
        rx.table.cell(
            rx.text(
                # A change shows "from → to"; an event that left the status as it was
                # (revealed, a rotation's new key) shows the status alone.
                rx.cond(
                    (row.old_status != "") & (row.old_status != row.new_status),
                    row.old_status + " → ",
                    "",
                ),
                row.new_status,
                size="1",
            )
        ),
        rx.table.cell(rx.text(row.summary, size="1", color_scheme="gray", style=WRAP_ANYWHERE)),
        aria_label=row.action,
    )


def history() -> rx.Component:
    return rx.vstack(
        rx.heading("History", size="4"),
        rx.cond(
            KeyPageState.history.length() > 0,
            rx.vstack(
                rx.box(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                *[
                                    rx.table.column_header_cell(h)
                                    for h in ("Time", "Actor", "Action", "Status", "Details")
                                ]
                            )
                        ),
                        rx.table.body(rx.foreach(KeyPageState.history, history_row)),
                        variant="surface",
                        size="1",
                        width="100%",
                        aria_label="Key history",
                    ),
                    width="100%",
                    overflow_x="auto",
                ),
                rx.hstack(rx.spacer(), *page_buttons(KeyPageState), width="100%", align="center"),
                width="100%",
                spacing="3",
            ),
            rx.cond(
                KeyPageState.loading,
                rx.center(rx.spinner(size="3"), padding="40px", width="100%"),
                empty_state("scroll-text", "No events yet", "Actions on this key appear here."),
            ),
        ),
        width="100%",
        spacing="3",
    )


def key_page() -> rx.Component:
    return page_frame(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), "All keys", align="center", spacing="1"),
            href="/projects/" + KeyPageState.current_project_id + "/keys",
            size="2",
        ),
        rx.cond(
            KeyPageState.found,
            rx.vstack(fields(), actions(), history(), width="100%", spacing="4"),
            rx.cond(
                KeyPageState.loading,
                rx.center(rx.spinner(size="3"), padding="40px", width="100%"),
            ),
        ),
        key_action_dialogs(KeyPageState),
        title=rx.cond(KeyPageState.found, "Key " + KEY.name, "Key"),
        project_page=True,
    )
