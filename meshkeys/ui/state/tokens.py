"""/settings/tokens: the user's API tokens (create with a scope: shown once; list; revoke)."""

from __future__ import annotations

import dataclasses
import uuid

import reflex as rx

from meshkeys import clock
from meshkeys.models import ALL_PERMISSIONS, Role
from meshkeys.services import access, auth
from meshkeys.services.errors import InvalidInput
from meshkeys.ui.state.secret import show_secret
from meshkeys.ui.state.session import SessionState, fmt_time

ALL_PROJECTS = "all"
NEVER = "never"
# The expiry choices of the create dialog: (value, label); the service allows 1 to 365 days.
EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), (NEVER, "Never")]
DEFAULT_EXPIRY = "90"


@dataclasses.dataclass
class TokenRow:
    id: str
    name: str
    prefix: str
    scope: str
    permissions: str
    expires: str
    created: str
    last_used: str
    revoked: str
    active: bool
    expired: bool


class TokensState(SessionState):
    rows: list[TokenRow] = []
    revoke_id: str = ""
    revoke_name: str = ""
    # The create dialog's scope: a project id or ALL_PROJECTS, permissions, expiry in days.
    new_project: str = ALL_PROJECTS
    new_permissions: list[str] = [str(p) for p in ALL_PERMISSIONS]
    new_expiry: str = DEFAULT_EXPIRY

    def _reload(self) -> None:
        items = self._call(auth.list_api_tokens)
        names = {p.id: p.name for p in self.nav_projects}
        now = clock.now()
        self.rows = [
            TokenRow(
                id=str(t.id),
                name=t.name,
                prefix=t.token_prefix + "…",
                scope=(
                    names.get(str(t.project_id), f"project {str(t.project_id)[:8]}…")
                    if t.project_id
                    else "All projects"
                ),
                permissions=", ".join(str(p) for p in t.permissions),
                expires=fmt_time(t.expires_at) or "never",
                created=fmt_time(t.created_at),
                last_used=fmt_time(t.last_used_at) or "never",
                revoked=fmt_time(t.revoked_at),
                active=t.revoked_at is None and not (t.expires_at and t.expires_at <= now),
                expired=t.revoked_at is None and bool(t.expires_at and t.expires_at <= now),
            )
            for t in items
        ]

    def _role_permissions(self, project_id: str) -> list[str]:
        """Every permission, or with a project every one the user's role there allows."""
        role = next((p.role for p in self.nav_projects if p.id == project_id), "")
        granted = access.ROLE_PERMISSIONS[Role(role)] if role else set(ALL_PERMISSIONS)
        return [str(p) for p in ALL_PERMISSIONS if p in granted]

    @rx.event
    def open_create(self, value: bool):
        """Open (with the default scope: all projects, every permission, 90 days) or close."""
        self.creating = value
        if value:
            self.new_project = ALL_PROJECTS
            self.new_permissions = self._role_permissions("")
            self.new_expiry = DEFAULT_EXPIRY

    @rx.event
    def set_new_project(self, value: str):
        self.new_project = value
        self.new_permissions = self._role_permissions("" if value == ALL_PROJECTS else value)

    @rx.event
    def set_permission(self, permission: str, checked: bool):
        wanted = set(self.new_permissions) - {permission} | ({permission} if checked else set())
        self.new_permissions = [str(p) for p in ALL_PERMISSIONS if p in wanted]

    @rx.event
    def set_new_expiry(self, value: str):
        self.new_expiry = value

    def _scope(self) -> dict:
        project_id = None
        if self.new_project != ALL_PROJECTS:
            try:
                project_id = uuid.UUID(self.new_project)
            except ValueError:
                raise InvalidInput("Pick a project from the list, or all projects.") from None
        expiry = None
        if self.new_expiry != NEVER:
            if not self.new_expiry.isdigit():
                raise InvalidInput("Pick an expiry from the list.")
            expiry = int(self.new_expiry)
        return {
            "project_id": project_id,
            "permissions": list(self.new_permissions),
            "expires_in_days": expiry,
        }

    @rx.event
    def load(self):
        return self._load_page(self._reload, project=False)

    @rx.event
    def create(self, form: dict):
        if not self.creating:  # a second click of the same submit (double-click): ignored
            return

        def work():
            token = self._call(
                auth.create_api_token, name=str(form.get("name", "")), **self._scope()
            )
            self._reload()
            self.creating = False
            return token

        yield from self._action(
            "create",
            work,
            lambda token: [
                *show_secret(
                    token.token,
                    title=f"API token '{token.name}' created",
                    filename=f"meshkeys-token-{token.name}.txt",
                ),
                rx.toast.success(f"Token '{token.name}' created. Copy it now."),
            ],
        )

    @rx.event
    def ask_revoke(self, token_id: str, name: str):
        self.revoke_id, self.revoke_name = token_id, name

    @rx.event
    def cancel_revoke(self, is_open: bool = False):
        if not is_open:
            self.revoke_id = self.revoke_name = ""

    @rx.event
    def revoke(self):
        if not self.revoke_id:  # the confirm was already answered (double-click): ignored
            return

        def work():
            try:
                token_id = uuid.UUID(self.revoke_id)
            except ValueError:
                raise InvalidInput("Pick a token from the list.") from None
            token = self._call(auth.revoke_api_token, token_id=token_id)
            self.revoke_id = self.revoke_name = ""
            self._reload()
            return token

        yield from self._action(
            "revoke",
            work,
            lambda token: rx.toast.success(
                f"Token '{token.name}' revoked; requests using it now get 401."
            ),
        )
