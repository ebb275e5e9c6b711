"""TEMPORARY app module: a placeholder until the UI is written. It will be replaced.

It exists so that `reflex run` has something to build (and to install the frontend once).
"""

import reflex as rx


def hydration_marker() -> rx.Component:
    """Hidden input the e2e tests wait on: its value becomes non-empty once the state has hydrated.

    Every page should render it (tests/e2e/apprunner.py: wait_for_hydration).
    """
    return rx.el.input(
        id="hydrated-token",
        type="hidden",
        value=rx.State.router.session.client_token,
        read_only=True,
    )


def index() -> rx.Component:
    return rx.container(
        hydration_marker(),
        rx.heading("meshkeys", size="8"),
        rx.text("Manage the keys that sign your webhooks."),
    )


app = rx.App()
app.add_page(index, route="/", title="meshkeys")
