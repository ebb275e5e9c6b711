"""The key actions a page offers on one key at a time: revoke, reactivate, rotate, reveal.

A mixin of the states that show keys (the keys table, the key page): each handler acts only on
the dialog that is open and the key it was opened for (a double-click acts once), calls one
key command (the service checks the role and writes the audit event), then asks the page to
show the key as it now is (``_refresh``). A new or revealed secret goes to the browser only
(``state.secret.show_secret``), never into a state var.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import reflex as rx

from meshkeys.models import KeyPublic, KeyWithSecret, RevokeReason
from meshkeys.services import key_commands
from meshkeys.services.errors import Conflict, DomainError, InvalidInput
from meshkeys.services.keys import DEFAULT_ROTATION_GRACE_SECONDS
from meshkeys.ui.state.pending import finished
from meshkeys.ui.state.secret import show_secret
from meshkeys.ui.state.session import SignedOut, _as_list, fmt_time

T = TypeVar("T")

GRACE_CHOICES = {"0": "Now", "3600": "In 1 hour", "86400": "In 24 hours", "604800": "In 7 days"}
REASONS = tuple(reason.value for reason in RevokeReason)


def _key_id(form: dict) -> uuid.UUID:
    try:
        return uuid.UUID(str(form.get("key_id", "")))
    except ValueError:
        raise InvalidInput("Pick a key from the table first.") from None


def _grace(form: dict, default: int) -> int:
    raw = str(form.get("grace", "") or default)
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput("Choose when the key stops working.") from None


def secret_file(key: KeyPublic) -> str:
    return f"meshkeys-{key.name}-{str(key.id)[:8]}.txt"


class KeyActions(rx.State, mixin=True):
    """Needs ``_refresh(kind)`` (show the keys as they now are), ``_call`` and ``_action``."""

    # Dialogs: "", "generate", "revoke", "rotate", "reactivate", "reveal".
    dialog: str = ""
    target_id: str = ""
    target_name: str = ""
    # The revoke dialog's reason (a compromised key gets a warning before the confirm button).
    revoke_reason: str = "retired"

    def _refresh(self, kind: str) -> None:
        """Reload what the page shows after ``kind`` ("generate", "rotate", "revoke",
        "reactivate", or "conflict": the key changed meanwhile)."""
        raise NotImplementedError

    def _view_events(self, kind: str) -> list[Any]:
        """Events that bring the page's address in line after ``kind`` (none by default)."""
        return []

    # ------------------------------------------------------------ dialogs

    @rx.event
    def open_dialog(self, kind: str, key_id: str = "", name: str = ""):
        self.dialog = kind
        self.target_id = key_id
        self.target_name = name
        self.revoke_reason = "retired"

    @rx.event
    def set_revoke_reason(self, value: str):
        self.revoke_reason = value if value in REASONS else "retired"

    @rx.event
    def close_dialog(self):
        self.dialog = ""
        self.target_id = ""
        self.target_name = ""

    @rx.event
    def set_dialog_open(self, is_open: bool):
        if not is_open:
            self.close_dialog()

    def _then(self, kind: str) -> None:
        self.close_dialog()
        self._refresh(kind)

    def _secret_first(
        self,
        kind: str,
        work: Callable[[], KeyWithSecret],
        shown: Callable[[KeyWithSecret], list],
        *,
        refresh: bool = True,
    ):
        """Body (``yield from``) of an action that makes a secret (generate, rotate, reveal):
        the work, then the secret dialog alone in one answer, then the closed form (and, with
        ``refresh``, the page's rows) in a second one.

        Reflex sends an answer's delta before its events, and the browser draws the delta before
        it runs the events: closing the form and drawing a new first page of 50 rows took it
        75-85 ms (websocket frame timestamps in the page) before the secret dialog could open.
        So the secret, the thing the user waits for, goes first, over the form; the form closes
        under it (docs/PERFORMANCE.md, "Where a click's time goes"). A second click meanwhile
        finds the form closed and does nothing (tests/e2e/test_key_lifecycle.py,
        test_a_double_click_acts_once).
        """
        try:
            key = work()
        except (SignedOut, DomainError) as exc:
            yield [*_as_list(self._failed(exc)), finished()]
            return
        yield [*shown(key), finished()]
        self.close_dialog()
        if refresh:
            yield self._attempt(lambda: self._refresh(kind)) or self._view_events(kind)

    def _confirming(self, kind: str, form: dict) -> bool:
        """Whether this submit confirms the dialog that is open. A second click of the same
        button (a double-click) arrives after the first one closed the dialog: it is ignored,
        so it neither repeats the action nor reports a refusal of its own."""
        if self.dialog != kind:
            return False
        return kind == "generate" or str(form.get("key_id", "")) == self.target_id

    def _on_key(self, fn: Callable[..., T], **kwargs: Any) -> T:
        """A key command from a confirm dialog. When it is refused because the key changed
        meanwhile (Conflict), the dialog closes and the page shows the key as it now is."""
        try:
            return self._call(fn, **kwargs)
        except Conflict:
            self._then("conflict")
            raise

    # ------------------------------------------------------------ actions

    @rx.event
    def revoke(self, form: dict):
        if not self._confirming("revoke", form):
            return finished()
        reason = str(form.get("reason", "") or "retired")

        def work() -> KeyPublic:
            key = self._on_key(
                key_commands.revoke_key,
                key_id=_key_id(form),
                reason=reason,
                grace_seconds=_grace(form, 0),
            )
            self._then("revoke")
            return key

        def done(key: KeyPublic):
            when = f"at {fmt_time(key.expires_at)}" if key.expires_at else "now"
            return rx.toast.success(
                f"Key '{key.name}' revoked ({reason}); it stops verifying {when}."
            )

        return self._answer(work, done)

    @rx.event
    def reactivate(self, form: dict):
        if not self._confirming("reactivate", form):
            return finished()

        def work() -> KeyPublic:
            key = self._on_key(key_commands.reactivate_key, key_id=_key_id(form))
            self._then("reactivate")
            return key

        return self._answer(
            work, lambda key: rx.toast.success(f"Key '{key.name}' is active again.")
        )

    @rx.event
    def rotate(self, form: dict):
        if not self._confirming("rotate", form):
            yield finished()
            return

        yield from self._secret_first(
            "rotate",
            lambda: self._on_key(
                key_commands.rotate_key,
                key_id=_key_id(form),
                grace_seconds=_grace(form, DEFAULT_ROTATION_GRACE_SECONDS),
            ),
            lambda key: [
                *show_secret(
                    key.secret,
                    title=f"Key '{key.name}' rotated: the new secret",
                    filename=secret_file(key),
                ),
                rx.toast.success(f"Key '{key.name}' rotated. Copy the new secret now."),
            ],
        )

    @rx.event
    def reveal(self, form: dict):
        if not self._confirming("reveal", form):
            yield finished()
            return
        yield from self._secret_first(
            "reveal",
            lambda: self._on_key(key_commands.reveal_key, key_id=_key_id(form)),
            lambda key: [
                *show_secret(
                    key.secret, title=f"Secret of key '{key.name}'", filename=secret_file(key)
                ),
                rx.toast.info("The secret was revealed; this is recorded in the audit log."),
            ],
            refresh=False,
        )
