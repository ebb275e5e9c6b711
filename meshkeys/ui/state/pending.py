"""The confirm button of a key dialog spins in the browser, not through the server.

Its submit sets ``PENDING`` to the action's kind in the browser (a ``ClientStateVar``) before
the event leaves, so the button shows its spinner and is disabled at once; the handler's one
answer (the outcome, or the refusal) sets it back to "". One round trip per action: no delta
that only says "busy" before the work starts.
"""

from __future__ import annotations

from typing import Any

from reflex.experimental.client_state import ClientStateVar

PENDING = ClientStateVar.create("mk_pending_action", default="")


def started(kind: str) -> Any:
    """The browser-side event of a submit: ``kind``'s button spins until the answer."""
    return PENDING.push(kind)


def finished() -> Any:
    """The event that ends the spinner (part of every answer of a pending action)."""
    return PENDING.push("")
