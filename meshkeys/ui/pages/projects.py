"""/projects: list and create projects; owners manage members and their roles."""

from __future__ import annotations

import reflex as rx

from meshkeys.ui.components.common import (
    confirm_alert,
    labelled_select,
    name_dialog,
)
from meshkeys.ui.components.layout import empty_state, field_label, page_frame
from meshkeys.ui.components.secret_dialog import secret_dialog
from meshkeys.ui.components.text import WRAP_ANYWHERE, clipped
from meshkeys.ui.state.projects import MemberRow, ProjectRow, ProjectsState

ROLES = ["owner", "admin", "viewer"]


def create_dialog() -> rx.Component:
    return name_dialog(
        trigger="New project",
        title="Create a project",
        description="You become its owner. Keys and the audit log are per project.",
        field_id="project-name",
        placeholder="e.g. payments",
        confirm="Create project",
        on_submit=ProjectsState.create,
        is_open=ProjectsState.creating,
        on_open_change=ProjectsState.set_creating,
        loading=ProjectsState.busy == "create",
    )


def project_row(row: ProjectRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.link(clipped(row.name, "280px"), href="/projects/" + row.id + "/keys")
        ),
        rx.table.cell(rx.badge(row.role, variant="soft")),
        rx.table.cell(rx.text(row.created, size="1")),
        rx.table.cell(
            rx.hstack(
                rx.link(
                    rx.button("Keys", size="1", variant="soft"),
                    href="/projects/" + row.id + "/keys",
                ),
                rx.link(
                    rx.button("Audit log", size="1", variant="soft"),
                    href="/projects/" + row.id + "/audit",
                ),
                rx.button(
                    "Members",
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=ProjectsState.select(row.id),
                ),
                rx.button(
                    "Settings",
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    aria_label="Settings of " + row.name,
                    on_click=ProjectsState.select(row.id),
                ),
                spacing="1",
            )
        ),
        aria_label=row.name,
    )


def member_row(m: MemberRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(clipped(m.email, "260px")),
        rx.table.cell(
            rx.cond(
                ProjectsState.selected_is_owner,
                labelled_select(
                    ROLES,
                    "Role of " + m.email,
                    value=m.role,
                    size="1",
                    on_change=lambda role: ProjectsState.change_role(m.user_id, role),
                ),
                rx.badge(m.role, variant="soft"),
            )
        ),
        rx.table.cell(rx.text(m.since, size="1")),
        rx.cond(
            ProjectsState.selected_is_owner,
            rx.table.cell(
                rx.button(
                    "Remove",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=ProjectsState.ask_remove(m.user_id, m.email),
                )
            ),
        ),
        aria_label=m.email,
    )


def invite_offer() -> rx.Component:
    return rx.callout(
        rx.vstack(
            rx.text(
                "No account uses ",
                rx.text.strong(ProjectsState.invite_email),
                " yet. Create a one-time invite link? It works once, for 7 days, and makes them ",
                ProjectsState.invite_role,
                " of this project once they set a password.",
                size="2",
                style=WRAP_ANYWHERE,
            ),
            rx.hstack(
                rx.button(
                    rx.icon("link", size=16),
                    "Create invite link",
                    on_click=ProjectsState.create_invite,
                    loading=ProjectsState.busy == "invite",
                ),
                rx.button(
                    "Cancel",
                    variant="soft",
                    color_scheme="gray",
                    on_click=ProjectsState.cancel_invite,
                ),
                spacing="2",
            ),
            spacing="2",
        ),
        icon="mail-plus",
        role="status",
        aria_label="Invite by link",
        width="100%",
    )


def pending_invites() -> rx.Component:
    return rx.vstack(
        rx.text("Pending invites", size="2", weight="medium"),
        rx.foreach(
            ProjectsState.pending,
            lambda i: rx.text(
                i.email + " · " + i.role + " · expires " + i.expires,
                size="1",
                color_scheme="gray",
                style=WRAP_ANYWHERE,
            ),
        ),
        spacing="1",
        width="100%",
        aria_label="Pending invites",
    )


def members_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Members of " + ProjectsState.selected_name, size="4", style=WRAP_ANYWHERE),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Email"),
                        rx.table.column_header_cell("Role"),
                        rx.table.column_header_cell("Member since"),
                        rx.cond(ProjectsState.selected_is_owner, rx.table.column_header_cell("")),
                    )
                ),
                rx.table.body(rx.foreach(ProjectsState.members, member_row)),
                size="1",
                width="100%",
                aria_label="Members",
            ),
            rx.cond(
                ProjectsState.selected_is_owner,
                rx.form(
                    rx.hstack(
                        rx.input(
                            name="email",
                            type="email",
                            placeholder="teammate@example.com",
                            aria_label="Member email",
                            required=True,
                            width="260px",
                        ),
                        labelled_select(
                            ROLES, "New member role", name="role", default_value="viewer"
                        ),
                        rx.button("Add member", type="submit", loading=ProjectsState.busy == "add"),
                        spacing="2",
                        align="center",
                    ),
                    on_submit=ProjectsState.add_member,
                    reset_on_submit=True,
                ),
                rx.text(
                    "Only owners can add, change or remove members.", size="1", color_scheme="gray"
                ),
            ),
            rx.cond(ProjectsState.invite_email != "", invite_offer()),
            rx.cond(
                ProjectsState.selected_is_owner & (ProjectsState.pending.length() > 0),
                pending_invites(),
            ),
            rx.cond(
                ProjectsState.selected_is_owner,
                rx.text(
                    "Someone with a meshkeys account is added at once; for anyone else you "
                    "create a one-time invite link to send them.",
                    size="1",
                    color_scheme="gray",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def public_keys_panel() -> rx.Component:
    """Project setting: publish the ed25519 public keys (owners switch it; everyone sees it)."""
    return rx.card(
        rx.vstack(
            rx.heading("Public keys", size="4"),
            rx.hstack(
                rx.el.label(
                    rx.hstack(
                        rx.switch(
                            checked=ProjectsState.selected_published,
                            on_change=ProjectsState.set_publish_public_keys,
                            disabled=~ProjectsState.selected_is_owner
                            | (ProjectsState.busy == "publish"),
                            aria_label="Publish public keys",
                        ),
                        rx.text("Publish public keys", size="2", weight="medium"),
                        spacing="2",
                        align="center",
                    ),
                ),
                rx.badge(
                    rx.cond(ProjectsState.selected_published, "published", "not published"),
                    color_scheme=rx.cond(ProjectsState.selected_published, "green", "gray"),
                    variant="soft",
                    aria_label="Public keys state",
                ),
                spacing="3",
                align="center",
            ),
            rx.text(
                "When on, anyone may fetch the ed25519 public keys of this project without a "
                "token, so receivers verify v1a signatures without being handed a secret: GET ",
                rx.code("/projects/" + ProjectsState.selected_id + "/public-keys"),
                size="1",
                color_scheme="gray",
                style=WRAP_ANYWHERE,
            ),
            rx.cond(
                ~ProjectsState.selected_is_owner,
                rx.text("Only owners can change this.", size="1", color_scheme="gray"),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        aria_label="Public keys settings",
    )


def policy_panel() -> rx.Component:
    """Project settings: the rotation policy (set by admins and owners, read by everyone)."""
    # ``key`` re-mounts the inputs when the stored policy changes, so they show it.
    remount = ProjectsState.selected_id + ProjectsState.policy_days + ProjectsState.policy_grace
    return rx.card(
        rx.vstack(
            rx.heading("Rotation policy", size="4"),
            rx.text(ProjectsState.policy_text, size="2", id="rotation-policy-text"),
            rx.cond(
                ProjectsState.selected_can_admin,
                rx.form(
                    rx.hstack(
                        rx.vstack(
                            field_label("Rotate every (days)", "policy-days"),
                            rx.input(
                                id="policy-days",
                                name="rotate_every_days",
                                type="number",
                                min=1,
                                max=365,
                                step=1,
                                required=True,
                                placeholder="e.g. 90",
                                default_value=ProjectsState.policy_days,
                                key="days-" + remount,
                                width="160px",
                            ),
                            spacing="1",
                        ),
                        rx.vstack(
                            field_label("Grace period (seconds)", "policy-grace"),
                            rx.input(
                                id="policy-grace",
                                name="grace_seconds",
                                type="number",
                                min=0,
                                max=604800,
                                step=1,
                                required=True,
                                default_value=ProjectsState.policy_grace,
                                key="grace-" + remount,
                                width="160px",
                            ),
                            spacing="1",
                        ),
                        rx.button(
                            "Save policy",
                            type="submit",
                            loading=ProjectsState.busy == "policy",
                            disabled=ProjectsState.busy != "",
                        ),
                        rx.cond(
                            ProjectsState.policy_on,
                            rx.button(
                                "Turn off",
                                type="button",
                                variant="soft",
                                color_scheme="gray",
                                loading=ProjectsState.busy == "policy-off",
                                disabled=ProjectsState.busy != "",
                                on_click=ProjectsState.clear_policy,
                            ),
                        ),
                        spacing="3",
                        align="end",
                        wrap="wrap",
                    ),
                    on_submit=ProjectsState.save_policy,
                    aria_label="Rotation policy",
                ),
                rx.text(
                    "Only admins and owners can change the rotation policy.",
                    size="1",
                    color_scheme="gray",
                ),
            ),
            rx.text(
                "Keys older than the period are rotated at the scheduler's next run (every "
                "minute by default), as the system (see the audit log). 1 to 365 days; a grace "
                "of 0 to 604800 seconds (7 days).",
                size="1",
                color_scheme="gray",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def remove_dialog() -> rx.Component:
    return confirm_alert(
        title="Remove " + ProjectsState.remove_email + "?",
        description="They lose access to the project's keys and audit log at once.",
        confirm="Remove member",
        on_confirm=ProjectsState.remove_member,
        is_open=ProjectsState.remove_id != "",
        on_open_change=ProjectsState.cancel_remove,
        loading=ProjectsState.busy == "remove",
    )


def projects_page() -> rx.Component:
    return page_frame(
        rx.hstack(
            rx.text("Projects you belong to.", size="2", color_scheme="gray"),
            rx.spacer(),
            create_dialog(),
            width="100%",
            align="center",
        ),
        rx.cond(
            ProjectsState.rows.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Name"),
                        rx.table.column_header_cell("Your role"),
                        rx.table.column_header_cell("Created"),
                        rx.table.column_header_cell(""),
                    )
                ),
                rx.table.body(rx.foreach(ProjectsState.rows, project_row)),
                variant="surface",
                size="1",
                width="100%",
                aria_label="Projects",
            ),
            rx.cond(
                ProjectsState.loading,
                rx.center(rx.spinner(size="3"), padding="40px", width="100%"),
                empty_state(
                    "folders",
                    "You are not in any project yet",
                    "Create a project with “New project”, or ask an owner to add you.",
                ),
            ),
        ),
        rx.cond(ProjectsState.selected_id != "", members_panel()),
        rx.cond(ProjectsState.selected_id != "", public_keys_panel()),
        rx.cond(ProjectsState.selected_id != "", policy_panel()),
        remove_dialog(),
        secret_dialog("invite"),
        title="Projects",
    )
