"""The one-time secret dialog's value lives only in the browser.

A secret (new key, rotated key, revealed key, new API token) is pushed once to
the browser as a client-side React state (``ClientStateVar``) by the handler
that obtained it. It is never assigned to a state var, so it is neither kept in
the server's state store (pickled to disk or Redis) nor sent again in later
deltas. Closing the dialog sets the client value back to "".
"""

from __future__ import annotations

from reflex.experimental.client_state import ClientStateVar

SHOWN_SECRET = ClientStateVar.create("mk_shown_secret", default="")
SHOWN_SECRET_TITLE = ClientStateVar.create("mk_shown_secret_title", default="")
# "Close" was clicked: the dialog asks whether the secret was copied.
CLOSING_SECRET = ClientStateVar.create("mk_closing_secret", default=False)
SHOWN_SECRET_FILENAME = ClientStateVar.create("mk_shown_secret_file", default="secret.txt")


def show_secret(secret: str, *, title: str, filename: str) -> list:
    """Events that open the secret dialog with ``secret`` (client side only)."""
    return [
        CLOSING_SECRET.push(False),
        SHOWN_SECRET_TITLE.push(title),
        SHOWN_SECRET_FILENAME.push(filename),
        SHOWN_SECRET.push(secret),
    ]
