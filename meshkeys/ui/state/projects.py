"""/projects: the user's projects, creating one, and (owners) managing members and roles."""

from __future__ import annotations

import dataclasses
import uuid

import reflex as rx

from meshkeys.services import projects, public_keys, rotation_policy
from meshkeys.services.errors import InvalidInput
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
        self.members = []
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
        self.members = []
        return self._attempt(self._reload_members, self._reload_policy)

    def _project(self) -> uuid.UUID:
        return _uuid(self.selected_id, "project")

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
        def work():
            member = self._call(
                projects.add_member,
                project_id=self._project(),
                email=str(form.get("email", "")),
                role=str(form.get("role", "") or "viewer"),
            )
            self._reload_members()
            return member

        yield from self._action(
            "add",
            work,
            lambda member: rx.toast.success(f"{member.email} added as {member.role}."),
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
