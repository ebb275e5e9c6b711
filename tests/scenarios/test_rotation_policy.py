"""Rotation policies and the scheduler's rotations, through the services (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from meshkeys import clock
from meshkeys.crypto.masterkey import get_keyring
from meshkeys.models import KeyStatus, RevokeReason, SignatureKey
from meshkeys.services import audit, key_commands, key_queries, operations, rotation_policy
from meshkeys.services.errors import InvalidInput, NotFound, PermissionDenied
from tests.helpers import all_events

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def frozen(monkeypatch):
    """``frozen.at(moment)`` stops meshkeys' clock there."""

    class Clock:
        def at(self, moment: datetime) -> None:
            monkeypatch.setattr(clock, "now", lambda: moment)

    c = Clock()
    c.at(T0)
    return c


def _generate(uow, world, name, *, elsewhere=False):
    if elsewhere:  # the outsider's own project
        return key_commands.generate_key(
            uow(world.outsider), project_id=world.other_project_id, name=name
        )
    return key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=name)


def _rotate_due(uow, **kwargs):
    return rotation_policy.rotate_due(uow(system=True), **kwargs)


def _keys(uow, project_id):
    with uow(system=True) as unit:
        rows = unit.session.exec(
            select(SignatureKey).where(SignatureKey.project_id == project_id)
        ).all()
        unit.session.expunge_all()
    return rows


# ---------------------------------------------------------------- the policy


def test_an_admin_sets_and_clears_the_policy_and_both_are_audited(uow, world, frozen):
    assert (
        rotation_policy.get_policy(uow(world.viewer), project_id=world.project_id).rotate_every_days
        is None
    )
    policy = rotation_policy.set_policy(
        uow(world.admin), project_id=world.project_id, rotate_every_days=30, grace_seconds=3600
    )
    assert (policy.rotate_every_days, policy.grace_seconds) == (30, 3600)
    read = rotation_policy.get_policy(uow(world.viewer), project_id=world.project_id)
    assert (read.rotate_every_days, read.grace_seconds) == (30, 3600)
    rotation_policy.clear_policy(uow(world.owner), project_id=world.project_id)
    assert (
        rotation_policy.get_policy(uow(world.viewer), project_id=world.project_id).rotate_every_days
        is None
    )
    (set_event,) = all_events(uow, world.project_id, audit.PROJECT_POLICY_SET)
    assert set_event.actor_email == world.admin.email
    assert set_event.details == {
        "rotate_every_days": 30,
        "grace_seconds": 3600,
        "previous": {"rotate_every_days": None, "grace_seconds": 86400},
    }
    (cleared,) = all_events(uow, world.project_id, audit.PROJECT_POLICY_CLEARED)
    assert cleared.details == {"previous": {"rotate_every_days": 30, "grace_seconds": 3600}}


@pytest.mark.parametrize(
    ("days", "grace", "says"),
    [
        (0, 60, "between 1 and 365"),
        (366, 60, "between 1 and 365"),
        (-1, 60, "between 1 and 365"),
        (True, 60, "whole number"),
        ("30", 60, "whole number"),
        (30, -1, "between 0 and 604800"),
        (30, 604801, "between 0 and 604800"),
        (30, 1.5, "whole number"),
    ],
)
def test_bad_policies_are_refused_saying_the_limits(uow, world, days, grace, says):
    with pytest.raises(InvalidInput, match=says):
        rotation_policy.set_policy(
            uow(world.admin),
            project_id=world.project_id,
            rotate_every_days=days,
            grace_seconds=grace,
        )
    assert all_events(uow, world.project_id, audit.PROJECT_POLICY_SET) == []


def test_a_viewer_cannot_set_the_policy_and_an_outsider_cannot_see_it(uow, world):
    with pytest.raises(PermissionDenied, match="needs admin"):
        rotation_policy.set_policy(
            uow(world.viewer), project_id=world.project_id, rotate_every_days=30
        )
    with pytest.raises(PermissionDenied):
        rotation_policy.clear_policy(uow(world.viewer), project_id=world.project_id)
    with pytest.raises(NotFound):
        rotation_policy.get_policy(uow(world.outsider), project_id=world.project_id)
    with pytest.raises(NotFound):
        rotation_policy.set_policy(
            uow(world.outsider), project_id=world.project_id, rotate_every_days=30
        )
    assert (
        rotation_policy.get_policy(uow(world.owner), project_id=world.project_id).rotate_every_days
        is None
    )


# ---------------------------------------------------------------- when a key is due


def test_a_key_is_due_exactly_n_days_after_its_creation(uow, world, frozen):
    assert _generate(uow, world, "before").rotates_at is None  # no policy yet
    rotation_policy.set_policy(
        uow(world.admin), project_id=world.project_id, rotate_every_days=30, grace_seconds=0
    )
    key = _generate(uow, world, "prod")
    assert key.rotates_at == T0 + 30 * DAY  # the answer to generate says it too
    listed = key_queries.list_keys(uow(world.viewer), project_id=world.project_id).items
    assert [k.rotates_at for k in listed] == [T0 + 30 * DAY] * 2
    assert key_queries.get_key(uow(world.viewer), key_id=key.id).rotates_at == T0 + 30 * DAY
    frozen.at(T0 + 30 * DAY - timedelta(seconds=1))
    assert rotation_policy.due_keys(uow(system=True)) == []
    assert _rotate_due(uow) == 0
    frozen.at(T0 + 30 * DAY)
    due = rotation_policy.due_keys(uow(system=True))
    assert {d.key_id for d in due} == {k.id for k in listed} and key.id in {d.key_id for d in due}
    assert {d.due_at for d in due} == {T0 + 30 * DAY}


def test_the_scheduler_rotates_each_due_key_once_as_the_system_with_the_policy(uow, world, frozen):
    old = _generate(uow, world, "prod")
    rotation_policy.set_policy(
        uow(world.admin), project_id=world.project_id, rotate_every_days=7, grace_seconds=600
    )
    moment = T0 + 8 * DAY
    frozen.at(moment)
    assert _rotate_due(uow) == 1
    assert _rotate_due(uow) == 0  # rotated: not active any more
    rows = {r.id: r for r in _keys(uow, world.project_id)}
    assert len(rows) == 2
    was = rows[old.id]
    assert (was.status, was.revoke_reason) == (KeyStatus.REVOKED, RevokeReason.ROTATED)
    assert was.expires_at == moment + timedelta(seconds=600)
    (new,) = [r for r in rows.values() if r.id != old.id]
    assert (new.status, new.name, new.rotated_from, new.created_by) == (
        KeyStatus.ACTIVE,
        "prod",
        old.id,
        None,
    )
    (event,) = all_events(uow, world.project_id, audit.KEY_ROTATED)
    assert (event.actor_email, event.actor_id, event.key_id) == ("system", None, old.id)
    assert event.details["policy"] == {"rotate_every_days": 7, "grace_seconds": 600}
    assert event.details["due_at"] == (T0 + 7 * DAY).isoformat()
    assert event.details["new_key_id"] == str(new.id)
    generated = all_events(uow, world.project_id, audit.KEY_GENERATED)
    assert [e.actor_email for e in generated] == [world.admin.email, "system"]
    # The successor is due N days after its own creation, and the chain still verifies.
    listed = key_queries.list_keys(uow(world.viewer), project_id=world.project_id).items
    assert {k.id: k.rotates_at for k in listed} == {new.id: moment + 7 * DAY, old.id: None}
    verdict = operations.verify_all_chains(uow(system=True), keyring=get_keyring())
    assert verdict.broken is None


def test_revoked_expiring_and_already_rotated_keys_are_not_rotated(uow, world, frozen):
    revoked = _generate(uow, world, "revoked")
    expiring = _generate(uow, world, "expiring")
    rotated = _generate(uow, world, "rotated-by-hand")
    key_commands.revoke_key(uow(world.admin), key_id=revoked.id, reason="retired")
    rotation_policy.set_policy(
        uow(world.admin), project_id=world.project_id, rotate_every_days=1, grace_seconds=0
    )
    frozen.at(T0 + 2 * DAY)
    key_commands.revoke_key(
        uow(world.admin), key_id=expiring.id, reason="retired", grace_seconds=3600
    )
    successor = key_commands.rotate_key(uow(world.admin), key_id=rotated.id, grace_seconds=3600)
    assert successor.rotates_at == T0 + 3 * DAY  # a day after its own creation
    assert rotation_policy.due_keys(uow(system=True)) == []
    assert _rotate_due(uow) == 0
    assert len(_keys(uow, world.project_id)) == 4
    listed = key_queries.list_keys(uow(world.viewer), project_id=world.project_id).items
    assert {k.id for k in listed if k.rotates_at} == {successor.id}


def test_projects_without_a_policy_are_left_alone_and_batches_cover_every_due_key(
    uow, world, frozen
):
    for n in range(5):
        _generate(uow, world, f"k{n}")
    _generate(uow, world, "other", elsewhere=True)
    rotation_policy.set_policy(
        uow(world.admin), project_id=world.project_id, rotate_every_days=1, grace_seconds=0
    )
    frozen.at(T0 + DAY)
    assert _rotate_due(uow, batch=2, limit=3) == 3  # bounded per run
    assert _rotate_due(uow, batch=2) == 2
    assert _rotate_due(uow, batch=2) == 0
    assert len(all_events(uow, world.project_id, audit.KEY_ROTATED)) == 5
    assert len(_keys(uow, world.other_project_id)) == 1


def test_a_cleared_policy_rotates_nothing(uow, world, frozen):
    _generate(uow, world, "prod")
    rotation_policy.set_policy(uow(world.admin), project_id=world.project_id, rotate_every_days=1)
    rotation_policy.clear_policy(uow(world.admin), project_id=world.project_id)
    frozen.at(T0 + 10 * DAY)
    assert _rotate_due(uow) == 0
    listed = key_queries.list_keys(uow(world.viewer), project_id=world.project_id).items
    assert [k.rotates_at for k in listed] == [None]


def test_only_the_system_runs_the_scheduler(uow, world):
    with pytest.raises(PermissionError, match="system"):
        rotation_policy.rotate_due(uow(world.owner))
    with pytest.raises(PermissionError, match="system"):
        rotation_policy.due_keys(uow(world.admin))
