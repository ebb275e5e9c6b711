"""/projects: the user's projects, creating one, and (owners) managing members and roles."""

from __future__ import annotations

import dataclasses
import uuid

import reflex as rx

from meshkeys.services import invites, projects, public_keys, rotation_policy
from meshkeys.services.errors import InvalidInput, UnknownUser
from meshkeys.ui.state.secret import show_secret
from meshkeys.ui.state.session import SessionState, fmt_time


@dataclasses.dataclass
class ProjectRow:
    id: str
    name: str
    role: str
    created: str
    published: bool = False  # publish_public_keys


@dataclasses.dataclass
class MemberRow:
    user_id: str
    email: str
    role: str
    since: str


def _whole(value: object, message: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidInput(message) from None


def describe_policy(rotate_every_days: int | None, grace_seconds: int) -> str:
    if rotate_every_days is None:
        return "No rotation policy: keys rotate only when someone rotates them."
    unit = "day" if rotate_every_days == 1 else "days"
    return (
        f"Every active key is rotated {rotate_every_days} {unit} after its creation; the old "
        f"key keeps signing and verifying for {grace_seconds} seconds."
    )


@dataclasses.dataclass
class InviteRow:
    id: str
    email: str
    role: str
    expires: str


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput(f"Pick a {what} from the list.") from None


class ProjectsState(SessionState):
    rows: list[ProjectRow] = []
    selected_id: str = ""
    selected_name: str = ""
    selected_role: str = ""
    selected_published: bool = False
    members: list[MemberRow] = []
    # Member removal confirm: the member's user id and email.
    remove_id: str = ""
    remove_email: str = ""
    # The selected project's rotation policy (the form's values and a sentence saying it).
    policy_on: bool = False
    policy_days: str = ""
    policy_grace: str = "86400"
    policy_text: str = ""
    # An email without an account, offered a one-time invite link (and the role it gets).
    invite_email: str = ""
    invite_role: str = ""
    pending: list[InviteRow] = []

    def _reload(self) -> None:
        items = self._call(projects.list_projects)
        self.rows = [
            ProjectRow(
                id=str(p.id),
                name=p.name,
                role=str(p.role or ""),
                created=fmt_time(p.created_at),
                published=p.publish_public_keys,
            )
            for p in items
        ]

    def _reload_members(self) -> None:
        if not self.selected_id:
            self.members = []
            return
        items = self._call(projects.list_members, project_id=_uuid(self.selected_id, "project"))
        self.members = [
            MemberRow(
                user_id=str(m.user_id),
                email=m.email,
                role=str(m.role),
                since=fmt_time(m.created_at),
            )
            for m in items
        ]

    def _reload_policy(self) -> None:
        if not self.selected_id:
            self.policy_on, self.policy_days, self.policy_text = False, "", ""
            return
        policy = self._call(rotation_policy.get_policy, project_id=self._project())
        self._show_policy(policy.rotate_every_days, policy.grace_seconds)

    def _show_policy(self, days: int | None, grace: int) -> None:
        self.policy_on = days is not None
        self.policy_days = str(days) if days is not None else ""
        self.policy_grace = str(grace)
        self.policy_text = describe_policy(days, grace)

    @rx.var
    def selected_is_owner(self) -> bool:
        return self.selected_role == "owner"

    @rx.var
    def selected_can_admin(self) -> bool:
        return self.selected_role in ("owner", "admin")

    @rx.event
    def save_policy(self, form: dict):
        def work():
            days = _whole(
                form.get("rotate_every_days", ""),
                "Rotate every: give a whole number of days from 1 to 365.",
            )
            grace = _whole(
                form.get("grace_seconds", "") or rotation_policy.DEFAULT_GRACE_SECONDS,
                "Grace period: give a whole number of seconds from 0 to 604800 (7 days).",
            )
            policy = self._call(
                rotation_policy.set_policy,
                project_id=self._project(),
                rotate_every_days=days,
                grace_seconds=grace,
            )
            self._show_policy(policy.rotate_every_days, policy.grace_seconds)
            return policy

        yield from self._action(
            "policy",
            work,
            lambda p: rx.toast.success(
                f"Rotation policy of {self.selected_name} saved: "
                + describe_policy(p.rotate_every_days, p.grace_seconds)
            ),
        )

    @rx.event
    def clear_policy(self):
        def work():
            policy = self._call(rotation_policy.clear_policy, project_id=self._project())
            self._show_policy(policy.rotate_every_days, policy.grace_seconds)

        yield from self._action(
            "policy-off", work, lambda _: rx.toast.success("Rotation policy turned off.")
        )

    @rx.event
    def load(self):
        self.selected_id = self.selected_name = self.selected_role = ""
        self.selected_published = False
        self.members, self.pending = [], []
        self.invite_email = self.invite_role = ""
        self.policy_on, self.policy_days, self.policy_text = False, "", ""
        return self._load_page(self._reload, project=False)

    @rx.event
    def create(self, form: dict):
        if not self.creating:  # a second click of the same submit (double-click): ignored
            return

        def work():
            project = self._call(projects.create_project, name=str(form.get("name", "")))
            self._load_nav(project=False)
            self._reload()
            self.creating = False
            return project

        yield from self._action(
            "create",
            work,
            lambda project: rx.toast.success(
                f"Project '{project.name}' created. Open it to generate its first key."
            ),
        )

    @rx.event
    def select(self, project_id: str):
        row = next((r for r in self.rows if r.id == project_id), None)
        if row is None:
            return rx.toast.error("Pick a project from the list.")
        self.selected_id, self.selected_name, self.selected_role = row.id, row.name, row.role
        self.selected_published = row.published
        self.members, self.pending = [], []
        self.invite_email = self.invite_role = ""
        return self._attempt(self._reload_members, self._reload_invites, self._reload_policy)

    def _project(self) -> uuid.UUID:
        return _uuid(self.selected_id, "project")

    def _reload_invites(self) -> None:
        if not self.selected_is_owner:
            self.pending = []
            return
        items = self._call(invites.list_invites, project_id=self._project())
        self.pending = [
            InviteRow(id=str(i.id), email=i.email, role=str(i.role), expires=fmt_time(i.expires_at))
            for i in items
        ]

    @rx.event
    def set_publish_public_keys(self, publish: bool):
        """The project's "publish public keys" setting (owners; audited by the service)."""
        publish = bool(publish)

        def work():
            found = self._call(
                public_keys.set_publish_public_keys, project_id=self._project(), publish=publish
            )
            self.selected_published = found.published
            self._reload()
            return found

        yield from self._action(
            "publish",
            work,
            lambda found: rx.toast.success(
                "Public keys published: receivers may fetch them without a token."
                if found.published
                else "Public keys are no longer published: fetching them needs a token."
            ),
        )

    @rx.event
    def add_member(self, form: dict):
        """An email with an account is added at once; one without is offered an invite link."""
        email = str(form.get("email", "")).strip()[:320]
        role = str(form.get("role", "") or "viewer")
        self.invite_email, self.invite_role = "", ""

        def work():
            try:
                member = self._call(
                    projects.add_member, project_id=self._project(), email=email, role=role
                )
            except UnknownUser:
                self.invite_email, self.invite_role = email.lower(), role
                return None
            self._reload_members()
            return member

        yield from self._action(
            "add",
            work,
            lambda member: (
                rx.toast.success(f"{member.email} added as {member.role}.")
                if member is not None
                else None
            ),
        )

    @rx.event
    def cancel_invite(self):
        self.invite_email, self.invite_role = "", ""

    @rx.event
    def create_invite(self):
        """The one-time link for the email offered above, shown once in the secret dialog."""
        if not self.invite_email:  # a second click: the first one already made the link
            return
        email, role = self.invite_email, self.invite_role

        def work():
            created = self._call(
                invites.create_invite, project_id=self._project(), email=email, role=role
            )
            self.invite_email, self.invite_role = "", ""
            self._reload_invites()
            return created

        yield from self._action(
            "invite",
            work,
            lambda created: [
                *show_secret(
                    f"{self.router.url.origin}/invite/{created.token}",
                    title=f"Invite link for {created.email}",
                    filename=f"meshkeys-invite-{created.email}.txt",
                ),
                rx.toast.success(f"Invite link for {created.email} created: copy it now."),
            ],
        )

    @rx.event
    def change_role(self, user_id: str, role: str):
        def work():
            member = self._call(
                projects.change_member_role,
                project_id=self._project(),
                user_id=_uuid(user_id, "member"),
                role=role,
            )
            self._reload()
            return member

        try:
            yield from self._action(
                "role",
                work,
                lambda member: rx.toast.success(f"{member.email} is now {member.role}."),
            )
        finally:
            # The select shows what the database says, also after a refusal.
            yield self._attempt(self._reload_members)

    @rx.event
    def ask_remove(self, user_id: str, email: str):
        self.remove_id, self.remove_email = user_id, email

    @rx.event
    def cancel_remove(self, is_open: bool = False):
        if not is_open:
            self.remove_id = self.remove_email = ""

    @rx.event
    def remove_member(self):
        email, project = self.remove_email, self.selected_name

        def work():
            self._call(
                projects.remove_member,
                project_id=self._project(),
                user_id=_uuid(self.remove_id, "member"),
            )
            self.remove_id = self.remove_email = ""
            self._reload_members()

        yield from self._action(
            "remove", work, lambda _: rx.toast.success(f"{email} removed from {project}.")
        )
