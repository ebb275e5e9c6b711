"""What every page that shows keys shares: the status badge, the action buttons a role allows,
and the confirm dialogs of revoke, rotate, reactivate and reveal (``state.key_actions``)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.constants.compiler import Imports
from reflex_base.vars.base import VarData
from reflex_base.vars.function import FunctionStringVar
from reflex_components_core.el.elements.inline import A as Anchor

from meshkeys.ui.components import lite
from meshkeys.ui.components.common import labelled_select
from meshkeys.ui.components.secret_dialog import secret_dialog
from meshkeys.ui.components.text import WRAP_ANYWHERE
from meshkeys.ui.state.key_actions import GRACE_CHOICES, REASONS
from meshkeys.ui.state.pending import PENDING, started

VIEWER_HINT = (
    "You are a viewer of this project: viewers can't change keys. Ask an owner for "
    "the admin role to generate, rotate, revoke or reactivate keys."
)


def status_badge(status) -> rx.Component:
    return lite.badge(
        status,
        color=rx.match(status, ("active", "green"), ("expiring", "amber"), "red"),
        aria_label="status " + status,
    )


def viewer_hint() -> rx.Component:
    return rx.callout(
        VIEWER_HINT,
        icon="eye",
        color_scheme="gray",
        size="1",
        role="note",
        aria_label="Why there are no key actions",
    )


def key_action_buttons(
    state: Any, key_id: Any, name: Any, status: Any, reason: Any, size: str = "1"
) -> rx.Component:
    """Rotate, Revoke, Reactivate (not for a compromised key) and Reveal, as the key's status
    allows; the page shows them only to owners and admins (``state.can_edit``). Drawn by
    ``lite`` (a table draws them on every row)."""

    def button(label: str, kind: str, color: str = "") -> rx.Component:
        return lite.button(
            label, size=size, color=color, on_click=state.open_dialog(kind, key_id, name)
        )

    return lite.hstack(
        rx.cond(status == "active", button("Rotate", "rotate")),
        rx.cond(status != "revoked", button("Revoke", "revoke", "red")),
        rx.cond(
            (status != "active") & (reason != "compromised"),
            button("Reactivate", "reactivate", "green"),
        ),
        button("Reveal", "reveal", "gray"),
        align="start",
        wrap=True,
    )


def key_dialog(
    state: Any,
    kind: str,
    title,
    description,
    *fields: rx.Component,
    confirm: str,
    color: str = "indigo",
) -> rx.Component:
    """A confirm dialog whose form submits to ``state.<kind>`` with the target key's id."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title, style=WRAP_ANYWHERE),
            rx.dialog.description(description, size="2"),
            rx.form(
                rx.vstack(
                    rx.el.input(type="hidden", name="key_id", value=state.target_id),
                    *fields,
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button"),
                        ),
                        rx.button(
                            confirm,
                            type="submit",
                            color_scheme=color,
                            # Spins (and is disabled) from the click to the answer: set in
                            # the browser by the submit, ended by the handler's one answer.
                            loading=PENDING.value == kind,
                        ),
                        justify="end",
                        width="100%",
                        spacing="2",
                    ),
                    spacing="3",
                    padding_top="12px",
                ),
                on_submit=[started(kind), getattr(state, kind)],
                reset_on_submit=False,
            ),
            max_width="480px",
        ),
        open=state.dialog == kind,
        on_open_change=state.set_dialog_open,
    )


def _grace_select(default: str, label: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium"),
        labelled_select(list(GRACE_CHOICES.items()), label, name="grace", default_value=default),
        spacing="1",
    )


def key_action_dialogs(state: Any) -> rx.Component:
    """The dialogs of ``key_action_buttons``, and the dialog that shows a secret once."""
    return rx.fragment(
        key_dialog(
            state,
            "revoke",
            "Revoke key " + state.target_name,
            "Receivers stop accepting signatures of this key when it is revoked.",
            rx.vstack(
                rx.text("Reason", size="2", weight="medium"),
                labelled_select(
                    list(REASONS),
                    "Reason",
                    name="reason",
                    value=state.revoke_reason,
                    on_change=state.set_revoke_reason,
                ),
                spacing="1",
            ),
            _grace_select("0", "Stops working"),
            rx.cond(
                state.revoke_reason == "compromised",
                rx.callout(
                    "This cannot be undone: a key revoked as compromised can never be "
                    "reactivated. Receivers must switch to another key.",
                    icon="triangle-alert",
                    color_scheme="red",
                    role="alert",
                    aria_label="Cannot be undone",
                    size="1",
                ),
                rx.text(
                    "A key revoked as compromised can never be reactivated.",
                    size="1",
                    color_scheme="gray",
                ),
            ),
            confirm="Revoke key",
            color="red",
        ),
        key_dialog(
            state,
            "rotate",
            "Rotate key " + state.target_name,
            "A new key with the same name is generated; this one keeps signing until the end of "
            "the grace period, so receivers can switch without failures.",
            _grace_select("86400", "Old key stops working"),
            confirm="Rotate key",
        ),
        key_dialog(
            state,
            "reactivate",
            "Reactivate key " + state.target_name,
            "The key signs and verifies again. This is recorded in the audit log.",
            confirm="Reactivate key",
            color="green",
        ),
        key_dialog(
            state,
            "reveal",
            "Reveal the secret of " + state.target_name,
            "Anyone who sees the secret can sign webhooks as this project. "
            "Revealing is recorded in the audit log.",
            confirm="Reveal secret",
            color="amber",
        ),
        secret_dialog("secret"),
    )


# A plain left click on a key link navigates inside the app (Reflex's own `_redirect` event, no
# server round trip); a click with a modifier key, a middle click or "open in new tab" is left
# to the browser. A plain <a> instead of React Router's <Link>: drawing a page of 50 rows took
# 25-30 ms with a <Link> per row against 19-21 ms with this (docs/PERFORMANCE.md).
_FOLLOW_IN_APP = FunctionStringVar.create(
    "((_info, e) => { if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey"
    " || e.shiftKey || e.altKey) return; e.preventDefault(); addEvents([ReflexEvent("
    '"_redirect", {path: e.currentTarget.getAttribute("href"), external: false, popup: false,'
    " replace: false}, {})], [e], {}); })",
    _var_data=VarData(imports=Imports.EVENTS),
)


def key_link(project_id: Any, key_id: Any, text: Any, **props: Any) -> rx.Component:
    """A key's short id (or ``text``) linking to its page; the full id on hover."""
    return Anchor.create(
        lite.code(text, **props),
        href="/projects/" + project_id + "/keys/" + key_id,
        title=key_id,
        class_name="key-link",
        on_click=_FOLLOW_IN_APP,
    )


def key_id_with_copy(key_id: Any, shown: rx.Component) -> rx.Component:
    """``shown`` (the id, or a link with its short form) and a button that copies the full id."""
    return lite.hstack(
        shown,
        lite.icon_button(
            "copy",
            aria_label="Copy id " + key_id,
            on_click=[rx.set_clipboard(key_id), rx.toast.success("Key id copied.")],
        ),
        class_name="mk-shrink",  # a class, not a style: no emotion hash per row
    )
