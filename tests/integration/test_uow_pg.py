"""The unit of work binds the acting user for row-level security on every transaction it begins:
after a commit or a rollback the next transaction is bound again, with no call to bind by hand."""

from __future__ import annotations

import sqlalchemy as sa

from meshkeys.services import key_commands
from meshkeys.services.uow import UnitOfWork
from tests.helpers import call, make_world, units

VISIBLE = sa.text("SELECT count(*) FROM signature_keys")


def test_every_transaction_is_bound_to_the_actor_even_after_a_rollback(committed_db):
    world = make_world(units(committed_db))
    call(
        key_commands.generate_key,
        world.admin,
        bind=committed_db,
        project_id=world.project_id,
        name="k",
    )
    with UnitOfWork(world.viewer, bind=committed_db) as uow:
        assert uow.session.execute(VISIBLE).scalar_one() == 1
        uow.rollback()  # a new transaction begins with the next statement
        assert uow.session.execute(VISIBLE).scalar_one() == 1
        uow.commit()
        assert uow.session.execute(VISIBLE).scalar_one() == 1
    with UnitOfWork(world.outsider, bind=committed_db) as uow:
        assert uow.session.execute(VISIBLE).scalar_one() == 0  # not a member of that project
    with UnitOfWork(bind=committed_db) as uow:
        assert uow.session.execute(VISIBLE).scalar_one() == 0  # nobody: nothing visible
        uow.act_as(world.viewer)  # a door names the actor mid-transaction
        assert uow.session.execute(VISIBLE).scalar_one() == 1
    with UnitOfWork(system=True, bind=committed_db) as uow:
        assert uow.session.execute(VISIBLE).scalar_one() == 1
