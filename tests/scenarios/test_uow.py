"""The unit of work: one `now` per transaction, work after commit only, an actor or a refusal."""

from __future__ import annotations

import pytest

from meshkeys import clock
from meshkeys.services import history, key_commands
from meshkeys.services.errors import Unauthenticated
from tests.helpers import all_events


def test_a_change_and_its_audit_event_carry_the_same_time(uow, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    revoked = key_commands.revoke_key(uow(world.admin), key_id=key.id, reason="retired")
    (event,) = all_events(uow, world.project_id, "key.revoked")
    assert revoked.revoked_at == event.created_at


def test_now_is_fixed_for_a_transaction_and_read_again_after_commit(uow, monkeypatch):
    ticks = iter(range(1, 100))
    base = clock.now()
    monkeypatch.setattr(clock, "now", lambda: base.replace(microsecond=next(ticks)))
    unit = uow()
    first = unit.now
    assert unit.now == first
    unit.commit()
    assert unit.now > first
    second = unit.now
    unit.rollback()
    assert unit.now > second


def test_work_after_commit_runs_once_and_never_after_a_rollback(uow):
    unit = uow()
    done: list[str] = []
    unit.after_commit(lambda: done.append("a"))
    unit.rollback()
    unit.commit()
    assert done == []
    unit.after_commit(lambda: done.append("b"))
    unit.commit()
    unit.commit()
    assert done == ["b"]


def test_a_service_without_an_actor_is_refused(uow, world):
    with pytest.raises(Unauthenticated, match="Sign in"):
        history.list_events(uow(), project_id=world.project_id)


def test_act_as_names_the_actor_of_a_unit_of_work_opened_without_one(uow, world):
    unit = uow()
    unit.act_as(world.viewer)
    assert history.list_events(unit, project_id=world.project_id).items
