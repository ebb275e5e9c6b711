"""Small building blocks shared by the pages: pager buttons, confirm alerts, one-field dialogs."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import Var

from meshkeys.ui.components.layout import field_label
from meshkeys.ui.components.text import WRAP_ANYWHERE


def page_buttons(state: Any) -> list[rx.Component]:
    """ "Page N", "Previous" and "Next" for a state with the KeysetPager mixin."""
    return [
        rx.text("Page ", state.page_number, size="2"),
        rx.button(
            rx.icon("chevron-left", size=16),
            "Previous",
            variant="soft",
            disabled=state.page_number <= 1,
            on_click=state.previous_page,
        ),
        rx.button(
            "Next",
            rx.icon("chevron-right", size=16),
            variant="soft",
            disabled=~state.has_next,
            on_click=state.next_page,
        ),
    ]


def confirm_alert(
    *,
    title: Var | str,
    description: str,
    confirm: str,
    on_confirm: Any,
    is_open: Var,
    on_open_change: Any,
    loading: Var,
) -> rx.Component:
    """A destructive confirmation: Cancel, or the red ``confirm`` button."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title, style=WRAP_ANYWHERE),
            rx.alert_dialog.description(description, size="2"),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button(confirm, color_scheme="red", on_click=on_confirm, loading=loading),
                justify="end",
                spacing="2",
                padding_top="12px",
            ),
        ),
        open=is_open,
        on_open_change=on_open_change,
    )


def name_dialog(
    *,
    trigger: str,
    title: str,
    description: str,
    field_id: str,
    placeholder: str,
    confirm: str,
    on_submit: Any,
    is_open: Var,
    on_open_change: Any,
    loading: Var,
) -> rx.Component:
    """A dialog asking for one name (new project, new token)."""
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(rx.icon("plus", size=16), trigger)),
        rx.dialog.content(
            rx.dialog.title(title, style=WRAP_ANYWHERE),
            rx.dialog.description(description, size="2"),
            rx.form(
                rx.vstack(
                    field_label("Name", field_id),
                    rx.input(
                        id=field_id,
                        name="name",
                        placeholder=placeholder,
                        required=True,
                        width="100%",
                        auto_focus=True,
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button(confirm, type="submit", loading=loading),
                        justify="end",
                        width="100%",
                        spacing="2",
                    ),
                    spacing="3",
                    padding_top="8px",
                ),
                on_submit=on_submit,
                reset_on_submit=True,
            ),
            max_width="440px",
        ),
        open=is_open,
        on_open_change=on_open_change,
    )


def labelled_select(
    options: list[tuple[str, str]] | list[str], label: str | Var, **root_props: Any
) -> rx.Component:
    """A Radix select whose trigger carries ``label`` as its accessible name."""
    pairs = [(o, o) if isinstance(o, str) else o for o in options]
    return rx.select.root(
        rx.select.trigger(aria_label=label),
        rx.select.content(*[rx.select.item(text, value=value) for value, text in pairs]),
        **root_props,
    )
