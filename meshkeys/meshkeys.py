"""The Reflex app: builds rx.App, registers the pages, mounts the API. Nothing else."""

import reflex as rx

from meshkeys import models  # noqa: F401 - the tables must be imported by the app module
from meshkeys.api.app import mount_api
from meshkeys.ui.pages.keys import keys_page
from meshkeys.ui.pages.login import login_page
from meshkeys.ui.state.keys import KeysState
from meshkeys.ui.state.login import LoginState
from meshkeys.ui.state.session import SessionState

app = rx.App(
    theme=rx.theme(accent_color="indigo", radius="medium"),
    api_transformer=mount_api,
)
app.add_page(login_page, route="/login", title="Sign in · meshkeys", on_load=LoginState.load)
app.add_page(rx.fragment, route="/", title="meshkeys", on_load=SessionState.go_home)
app.add_page(keys_page, route="/projects/[project_id]/keys", title="Keys · meshkeys",
             on_load=KeysState.load)
