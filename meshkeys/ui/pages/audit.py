"""/projects/[project_id]/audit: the project's audit log, filters, export and chart."""

from __future__ import annotations

import reflex as rx

from meshkeys.services import audit
from meshkeys.ui.components.common import labelled_select, page_buttons
from meshkeys.ui.components.key_actions import key_link
from meshkeys.ui.components.layout import empty_state, error_callout, page_frame
from meshkeys.ui.components.text import clipped
from meshkeys.ui.state.audit import CHART_SERIES, AuditState, EventRow

SERIES_COLORS = {
    audit.KEY_GENERATED: "#3e63dd",
    audit.KEY_ROTATED: "#8e4ec6",
    audit.KEY_REVOKED: "#e5484d",
    audit.KEY_REACTIVATED: "#30a46c",
    audit.KEY_REVEALED: "#f76b15",
    audit.ACCESS_DENIED: "#ad7f58",
    "other": "#8b8d98",
}


def chart() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text("Actions per day (last 30 days)", size="2", weight="medium"),
            rx.recharts.bar_chart(
                *[
                    rx.recharts.bar(
                        data_key=name, stack_id="a", fill=SERIES_COLORS[name], name=name
                    )
                    for name in (*CHART_SERIES, "other")
                ],
                rx.recharts.x_axis(data_key="day", font_size=11),
                rx.recharts.y_axis(allow_decimals=False, width=32, font_size=11),
                rx.recharts.graphing_tooltip(),
                rx.recharts.legend(icon_size=10),
                data=AuditState.chart,
                width="100%",
                height=220,
            ),
            width="100%",
        ),
        width="100%",
        aria_label="Actions per day",
    )


def filters() -> rx.Component:
    def field(label: str, control: rx.Component) -> rx.Component:
        return rx.vstack(rx.text(label, size="1", weight="medium"), control, spacing="1")

    return rx.form(
        rx.hstack(
            field(
                "Action",
                labelled_select(
                    [("all", "all actions"), *[(a, a) for a in audit.ACTIONS]],
                    "Action filter",
                    name="action",
                    default_value=AuditState.f_action,
                    key=AuditState.f_action + "x",
                ),
            ),
            field(
                "Key",
                rx.input(
                    name="key",
                    default_value=AuditState.f_key,
                    key=AuditState.f_key + "k",
                    placeholder="short id or full key id",
                    aria_label="Key filter",
                    width="300px",
                ),
            ),
            field(
                "Actor",
                rx.input(
                    name="actor",
                    default_value=AuditState.f_actor,
                    key=AuditState.f_actor + "a",
                    placeholder="email",
                    aria_label="Actor filter",
                    width="200px",
                ),
            ),
            field(
                "From",
                rx.input(
                    name="since",
                    type="date",
                    default_value=AuditState.f_since,
                    key=AuditState.f_since + "s",
                    aria_label="From date",
                ),
            ),
            field(
                "To",
                rx.input(
                    name="until",
                    type="date",
                    default_value=AuditState.f_until,
                    key=AuditState.f_until + "u",
                    aria_label="To date",
                ),
            ),
            rx.button("Apply filters", type="submit", variant="soft"),
            rx.button("Clear", type="button", variant="ghost", on_click=AuditState.clear_filters),
            rx.spacer(),
            rx.button(
                rx.icon("download", size=16),
                "Export CSV",
                type="button",
                on_click=AuditState.export_csv,
                loading=AuditState.busy == "export",
            ),
            align="end",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        on_submit=AuditState.apply_filters,
        reset_on_submit=False,
        width="100%",
    )


def event_row(row: EventRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.when, size="1", white_space="nowrap")),
        rx.table.cell(rx.text(row.actor, size="1")),
        rx.table.row_header_cell(rx.badge(row.action, variant="soft")),
        rx.table.cell(
            rx.cond(
                row.key_id != "",
                rx.vstack(
                    clipped(row.key_name, "200px", size="1"),
                    key_link(AuditState.current_project_id, row.key_id, row.key_short, size="1"),
                    spacing="0",
                ),
            )
        ),
        rx.table.cell(rx.text(row.old_status, size="1")),
        rx.table.cell(rx.text(row.new_status, size="1")),
        rx.table.cell(rx.text(row.client_ip, size="1")),
        rx.table.cell(rx.text(row.summary, size="1", color_scheme="gray")),
        aria_label=row.action + " " + row.key_name,
    )


def events_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(h)
                    for h in (
                        "Time",
                        "Actor",
                        "Action",
                        "Key",
                        "Old status",
                        "New status",
                        "Client IP",
                        "Details",
                    )
                ]
            )
        ),
        rx.table.body(rx.foreach(AuditState.rows, event_row)),
        variant="surface",
        size="1",
        width="100%",
        aria_label="Audit events",
    )


def pager() -> rx.Component:
    return rx.hstack(
        rx.spacer(), *page_buttons(AuditState), width="100%", spacing="2", align="center"
    )


def audit_page() -> rx.Component:
    return page_frame(
        chart(),
        filters(),
        rx.cond(
            AuditState.filter_error != "",
            error_callout(AuditState.filter_error, aria_label="Filter error"),
        ),
        rx.cond(
            AuditState.filter_error != "",
            rx.fragment(),
            rx.cond(
                AuditState.rows.length() > 0,
                rx.vstack(events_table(), pager(), width="100%", spacing="3"),
                rx.cond(
                    AuditState.loading,
                    rx.center(rx.spinner(size="3"), padding="40px", width="100%"),
                    empty_state(
                        "scroll-text",
                        "No events match",
                        "Every key action, member change and denied request is recorded here. "
                        "Generate a key, or clear the filters.",
                    ),
                ),
            ),
        ),
        title=rx.cond(
            AuditState.current_project_name != "",
            AuditState.current_project_name + " · Audit log",
            "Audit log",
        ),
        project_page=True,
    )
