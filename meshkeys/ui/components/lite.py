"""Radix Themes' markup for a table's rows, drawn by plain elements instead of its React
components.

A page of keys draws 50 rows of about 20 Radix Themes components each (text, code, badge,
buttons, flex rows, cells), and every Next or Previous renders them all again: each component
runs Radix's ``extractProps`` over its prop definitions, ``Text`` goes through a ``Slot`` and
Reflex's ``IconButton`` adds an emotion style that is serialized on every render. The
functions here emit the very elements, classes and ``data-accent-color`` attributes those
components put in the DOM (Radix Themes 3.3, as pinned by reflex.lock; checked against the DOM
they drew, see docs/PERFORMANCE.md), so the rows look the same and render with none of that
work. ``tests/e2e/test_layout.py`` checks the drawn styles, so a Radix release that renames
its classes fails a test instead of quietly unstyling the rows.

Use them for what repeats per row; a page's one-off buttons and dialogs stay Radix components
(they need focus handling, loading spinners, portals)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from meshkeys.ui.components.text import clip_class


def _classes(*names: str | None) -> str:
    return " ".join(n for n in names if n)


def _accent(color: Any) -> dict[str, Any]:
    """Radix's ``data-accent-color``: a color name, "" for the theme's accent, None for none."""
    return {"custom_attrs": {"data-accent-color": color}} if color is not None else {}


def text(
    *children: Any,
    size: str | None = None,
    weight: str | None = None,
    color: Any = None,
    class_name: str | None = None,
    **attrs: Any,
) -> rx.Component:
    """``rx.text``: a ``<p class="rt-Text ...">``."""
    return rx.el.p(
        *children,
        class_name=_classes(
            "rt-Text",
            size and f"rt-r-size-{size}",
            weight and f"rt-r-weight-{weight}",
            class_name,
        ),
        **_accent(color),
        **attrs,
    )


def clipped(value: Any, max_width: str = "240px", **props: Any) -> rx.Component:
    """``text.clipped`` as a ``text``: one line cut with an ellipsis, whole on hover."""
    extra = props.pop("class_name", None)
    return text(value, title=value, class_name=_classes(clip_class(max_width), extra), **props)


def code(
    *children: Any, variant: str = "soft", size: str | None = None, **attrs: Any
) -> rx.Component:
    """``rx.code``: a ``<code class="rt-reset rt-Code rt-variant-...">``."""
    return rx.el.code(
        *children,
        class_name=_classes(
            "rt-reset rt-Code", size and f"rt-r-size-{size}", f"rt-variant-{variant}"
        ),
        **_accent(None if variant == "ghost" else ""),
        **attrs,
    )


def badge(*children: Any, color: Any = "", variant: str = "soft", size: str = "1", **attrs: Any):
    """``rx.badge``: a ``<span class="rt-reset rt-Badge ...">``."""
    return rx.el.span(
        *children,
        class_name=f"rt-reset rt-Badge rt-r-size-{size} rt-variant-{variant}",
        **_accent(color),
        **attrs,
    )


def button(
    *children: Any, color: Any = "", size: str = "1", variant: str = "soft", **attrs: Any
) -> rx.Component:
    """``rx.button`` (no ``loading``): a ``<button class="rt-reset rt-BaseButton ...">``."""
    return rx.el.button(
        *children,
        type="button",
        class_name=f"rt-reset rt-BaseButton rt-r-size-{size} rt-variant-{variant} rt-Button",
        **_accent(color),
        **attrs,
    )


def icon_button(icon: str, icon_size: int = 12, **attrs: Any) -> rx.Component:
    """``rx.icon_button(rx.icon(icon), size="1", variant="ghost")``; Reflex's 6px padding is
    the class ``mk-icon-pad`` of assets/meshkeys.css instead of an emotion style."""
    return rx.el.button(
        rx.icon(icon, size=icon_size),
        type="button",
        class_name="rt-reset rt-BaseButton rt-r-size-1 rt-variant-ghost rt-IconButton mk-icon-pad",
        **_accent(""),
        **attrs,
    )


def hstack(
    *children: Any,
    gap: str = "1",
    align: str = "center",
    wrap: bool = False,
    class_name: str | None = None,
) -> rx.Component:
    """``rx.hstack(spacing=gap, align=align)``: a ``<div class="rt-Flex rt-r-fd-row ...">``."""
    return rx.el.div(
        *children,
        class_name=_classes(
            "rt-Flex rt-r-fd-row",
            f"rt-r-ai-{align}",
            wrap and "rt-r-fw-wrap",
            f"rt-r-gap-{gap}",
            "rx-Stack",
            class_name,
        ),
    )


def vstack(*children: Any, gap: str = "1") -> rx.Component:
    """``rx.vstack(spacing=gap)``: a ``<div class="rt-Flex rt-r-fd-column ...">``."""
    return rx.el.div(
        *children, class_name=f"rt-Flex rt-r-fd-column rt-r-ai-start rt-r-gap-{gap} rx-Stack"
    )


def row(*cells: Any, **attrs: Any) -> rx.Component:
    """``rx.table.row``."""
    return rx.el.tr(*cells, class_name="rt-TableRow", **attrs)


def cell(*children: Any) -> rx.Component:
    """``rx.table.cell``."""
    return rx.el.td(*children, class_name="rt-TableCell")


def row_header(*children: Any) -> rx.Component:
    """``rx.table.row_header_cell``."""
    return rx.el.th(*children, class_name="rt-TableCell rt-TableRowHeaderCell", scope="row")
