"""The rotation policy's doors on a SQLite file: `meshkeys project policy`, the app's
scheduler task, what the keys table and the project settings say."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from meshkeys import clock
from meshkeys.services import audit, key_commands, key_queries, rotation_policy
from meshkeys.services.uow import UnitOfWork
from meshkeys.ui.state.keys import rotation_label, to_row
from meshkeys.ui.state.projects import describe_policy
from tests.helpers import all_events, make_world, reset_caches, units


@pytest.fixture
def world(db_path):
    return make_world()


def test_the_policy_is_set_shown_and_turned_off_from_the_command_line(cli, world):
    pid = str(world.project_id)
    admin = world.admin.email
    shown = cli("project", "policy", pid, "--user", world.viewer.email)
    assert shown.stdout.strip() == "rotation policy: off"
    set_ = cli("project", "policy", pid, "--rotate-every", "30", "--user", admin, "--json")
    assert json.loads(set_.stdout) == {
        "project_id": pid,
        "rotate_every_days": 30,
        "grace_seconds": 86400,
    }
    again = cli(
        "project", "policy", pid, "--rotate-every", "7", "--grace-seconds", "0", "--user", admin
    )
    assert again.stdout.strip() == "rotation policy: rotate every 7 days, grace 0 s"
    assert cli("project", "policy", pid, "--off", "--user", admin).stdout.strip() == (
        "rotation policy: off"
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rotate-every", "0"], "between 1 and 365"),
        (["--rotate-every", "400"], "between 1 and 365"),
        (["--rotate-every", "ten"], "not a valid integer"),
        (["--rotate-every", "30", "--grace-seconds", "604801"], "between 0 and 604800"),
        (["--grace-seconds", "60"], "needs --rotate-every"),
        (["--off", "--rotate-every", "30"], "give it alone"),
    ],
)
def test_bad_input_exits_2_saying_what_is_wrong(cli, world, args, says):
    result = cli(
        "project", "policy", str(world.project_id), *args, "--user", world.admin.email, code=2
    )
    assert says in result.output


def test_a_viewer_is_refused_with_exit_4(cli, world):
    result = cli(
        "project",
        "policy",
        str(world.project_id),
        "--rotate-every",
        "30",
        "--user",
        world.viewer.email,
        code=4,
    )
    assert "needs admin" in result.output
    assert cli("project", "policy", "nope", "--user", world.admin.email, code=2)


# ---------------------------------------------------------------- the app's task


def _run_for(seconds: float, **kwargs) -> bool:
    async def main() -> bool:
        task = asyncio.create_task(rotation_policy.run_in_background(**kwargs))
        done, _ = await asyncio.wait({task}, timeout=seconds)
        task.cancel()
        return bool(done)

    return asyncio.run(main())


def test_the_app_task_rotates_due_keys_and_keeps_running(world, monkeypatch, caplog):
    with UnitOfWork(world.admin) as uow:
        key_commands.generate_key(uow, project_id=world.project_id, name="prod")
    with UnitOfWork(world.admin) as uow:
        rotation_policy.set_policy(uow, project_id=world.project_id, rotate_every_days=1)
    later = datetime.now(UTC) + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    caplog.set_level("INFO", logger="meshkeys.rotation")
    assert _run_for(1.0, interval_seconds=0.1) is False  # a loop: it never returns by itself
    assert "rotated 1 due keys" in caplog.text
    rotated = all_events(units(), world.project_id, audit.KEY_ROTATED)
    assert [e.actor_email for e in rotated] == ["system"]


def test_a_failing_run_is_logged_and_the_task_keeps_going(db_path, tmp_path, monkeypatch, caplog):
    missing = tmp_path / "no-such-dir" / "meshkeys.db"
    monkeypatch.setenv("MESHKEYS_DATABASE_URL", f"sqlite:///{missing}")
    reset_caches()
    assert _run_for(0.5, interval_seconds=0.1) is False
    assert caplog.text.count("rotation scheduler failed") >= 2  # logged, then tried again


# ---------------------------------------------------------------- what the pages say


@pytest.mark.parametrize(
    ("left", "says"),
    [
        (timedelta(days=30), "rotates in 30 days"),
        (timedelta(days=29, hours=1), "rotates in 30 days"),
        (timedelta(hours=3), "rotates in 1 day"),
        (timedelta(seconds=0), "due now"),
        (-timedelta(days=2), "due now"),
    ],
)
def test_the_keys_table_says_when_a_key_rotates(left, says):
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert rotation_label(now + left, now) == says
    assert rotation_label(None, now) == ""


def test_the_keys_table_rows_carry_the_rotation_of_active_keys_only(world, monkeypatch):
    with UnitOfWork(world.admin) as uow:
        rotation_policy.set_policy(uow, project_id=world.project_id, rotate_every_days=30)
    with UnitOfWork(world.admin) as uow:
        key = key_commands.generate_key(uow, project_id=world.project_id, name="a")
    with UnitOfWork(world.admin) as uow:
        key_commands.generate_key(uow, project_id=world.project_id, name="b")
    with UnitOfWork(world.admin) as uow:
        key_commands.revoke_key(uow, key_id=key.id, reason="retired")
    with UnitOfWork(world.viewer) as uow:
        page = key_queries.list_keys(uow, project_id=world.project_id)
    rows = {r.name: r for r in (to_row(k) for k in page.items)}
    assert rows["b"].rotation == "rotates in 30 days" and rows["b"].rotates_at
    assert rows["a"].rotation == "" and rows["a"].status == "revoked"


def test_the_project_settings_describe_the_policy():
    assert describe_policy(None, 86400).startswith("No rotation policy")
    assert describe_policy(1, 0) == (
        "Every active key is rotated 1 day after its creation; the old key keeps signing and "
        "verifying for 0 seconds."
    )
