"""Any address that is no page: the layout, what happened, and the way back."""

from __future__ import annotations

import reflex as rx

from meshkeys.ui.components.layout import empty_state, page_frame
from meshkeys.ui.state.not_found import NotFoundState


def not_found_page() -> rx.Component:
    return rx.cond(
        NotFoundState.signed_in,
        page_frame(
            empty_state(
                "map-pin-off",
                "There is no page at this address",
                "Check the link, or go back to your projects.",
                rx.link(rx.button("Go to your projects", variant="soft"), href="/projects"),
            ),
            title="Page not found",
        ),
        rx.center(
            empty_state(
                "map-pin-off",
                "Page not found",
                "There is no page at this address. Sign in to see your projects.",
                rx.link(rx.button("Sign in", variant="soft"), href="/login"),
            ),
            min_height="60vh",
        ),
    )
