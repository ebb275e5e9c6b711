"""Text that never makes a page wider than the window."""

from __future__ import annotations

from typing import Any

import reflex as rx

# The widths that have a class in assets/meshkeys.css (.mk-clip-N); any other is a style.
CLIP_WIDTHS = ("160px", "180px", "200px", "240px", "260px", "280px")


def clip_class(max_width: str) -> str:
    """The classes of assets/meshkeys.css that cut a line at ``max_width``, one of CLIP_WIDTHS."""
    if max_width not in CLIP_WIDTHS:
        raise ValueError(f"no mk-clip class for {max_width!r}: use one of {CLIP_WIDTHS}")
    return f"mk-clip mk-clip-{max_width.removesuffix('px')}"


def clipped(text: Any, max_width: Any = "240px", **props: Any) -> rx.Component:
    """A one-line text cut with an ellipsis when too long, shown whole on hover (its title):
    a name of 200 characters without a space never widens a table or a page.

    The cut is a class of assets/meshkeys.css (``mk-clip``): Reflex's ``rx.text`` has no
    ``truncate`` prop (passed, it became an invalid CSS property and nothing was cut), and a
    style object per row is hashed by emotion on every render of a table."""
    if isinstance(max_width, str) and max_width in CLIP_WIDTHS:
        class_name = clip_class(max_width)
    else:
        class_name = "mk-clip"
        props["max_width"] = max_width
    return rx.text(text, title=text, class_name=class_name, **props)


# For headings and dialog titles, which may wrap: a long name breaks anywhere instead of
# pushing the page wider than the window.
WRAP_ANYWHERE = {"overflow_wrap": "anywhere", "word_break": "break-word", "min_width": "0"}
