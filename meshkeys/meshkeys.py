"""The Reflex app: builds rx.App, registers the pages, mounts the API. Nothing else."""

import reflex as rx

from meshkeys import models  # noqa: F401 - the tables must be imported by the app module
from meshkeys.api.app import accept_socket_origins, mount_api
from meshkeys.services.checkpoints import run_in_background as write_audit_checkpoints
from meshkeys.services.rotation_policy import run_in_background as rotate_due_keys
from meshkeys.ui.pages.audit import audit_page
from meshkeys.ui.pages.invite import invite_page
from meshkeys.ui.pages.key_page import key_page
from meshkeys.ui.pages.keys import keys_page
from meshkeys.ui.pages.login import login_page
from meshkeys.ui.pages.not_found import not_found_page
from meshkeys.ui.pages.projects import projects_page
from meshkeys.ui.pages.tokens import tokens_page
from meshkeys.ui.pages.webhooks import webhooks_page
from meshkeys.ui.state.audit import AuditState
from meshkeys.ui.state.invite import InviteState
from meshkeys.ui.state.key_page import KeyPageState
from meshkeys.ui.state.keys import KeysState
from meshkeys.ui.state.login import LoginState
from meshkeys.ui.state.not_found import NotFoundState
from meshkeys.ui.state.projects import ProjectsState
from meshkeys.ui.state.session import SessionGuard, SessionState
from meshkeys.ui.state.tokens import TokensState
from meshkeys.ui.state.webhooks import WebhooksState
from meshkeys.ui.state_store import restrict_state_store

restrict_state_store()

app = rx.App(api_transformer=mount_api, stylesheets=["/meshkeys.css"])
accept_socket_origins(app.sio)
app.register_lifespan_task(write_audit_checkpoints)
app.register_lifespan_task(rotate_due_keys)
app.add_middleware(SessionGuard())
app.add_page(login_page, route="/login", title="Sign in · meshkeys", on_load=LoginState.load)
app.add_page(rx.fragment, route="/", title="meshkeys", on_load=SessionState.go_home)
app.add_page(
    invite_page,
    route="/invite/[invite_token]",
    title="Join a project · meshkeys",
    on_load=InviteState.load,
)
app.add_page(
    keys_page, route="/projects/[project_id]/keys", title="Keys · meshkeys", on_load=KeysState.load
)
app.add_page(
    key_page,
    route="/projects/[project_id]/keys/[key_id]",
    title="Key · meshkeys",
    on_load=KeyPageState.load,
)
app.add_page(
    webhooks_page,
    route="/projects/[project_id]/webhooks",
    title="Webhook tester · meshkeys",
    on_load=WebhooksState.load,
)
app.add_page(
    audit_page,
    route="/projects/[project_id]/audit",
    title="Audit log · meshkeys",
    on_load=AuditState.load,
)
app.add_page(
    projects_page, route="/projects", title="Projects · meshkeys", on_load=ProjectsState.load
)
app.add_page(
    tokens_page, route="/settings/tokens", title="API tokens · meshkeys", on_load=TokensState.load
)
app.add_page(
    not_found_page, route="404", title="Page not found · meshkeys", on_load=NotFoundState.load
)
