"""Text that never makes a page wider than the window."""

from __future__ import annotations

from typing import Any

import reflex as rx


def clipped(text: Any, max_width: Any = "240px", **props: Any) -> rx.Component:
    """A one-line text cut with an ellipsis when too long, shown whole on hover (its title):
    a name of 200 characters without a space never widens a table or a page."""
    props.setdefault("display", "block")
    return rx.text(text, title=text, truncate=True, max_width=max_width, **props)


# For headings and dialog titles, which may wrap: a long name breaks anywhere instead of
# pushing the page wider than the window.
WRAP_ANYWHERE = {"overflow_wrap": "anywhere", "word_break": "break-word", "min_width": "0"}
