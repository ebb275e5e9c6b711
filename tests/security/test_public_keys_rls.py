"""Publishing a project's public keys opens the public-keys answer, not the table: with no user
acting, the runtime role still sees no key row, and the published set carries no secret."""

from __future__ import annotations

import sqlalchemy as sa

from meshkeys.models import SignatureKey
from meshkeys.services import key_commands, public_keys


def test_a_published_project_keeps_its_key_rows_hidden_from_anonymous_transactions(
    uow, session, world
):
    key = key_commands.generate_key(
        uow(world.admin), project_id=world.project_id, name="edge", key_type="ed25519"
    )
    public_keys.set_publish_public_keys(uow(world.owner), project_id=world.project_id, publish=True)
    published = public_keys.published_key_set(uow(), project_id=world.project_id)
    assert published is not None and [k.public_key for k in published.keys] == [key.public_key]
    dumped = published.model_dump_json()
    assert key.secret not in dumped and "mk1." not in dumped
    # The anonymous transaction after it (no user, not system) sees no row of the table.
    session.execute(
        sa.text(
            "SELECT set_config('meshkeys.user_id', '', true), "
            "set_config('meshkeys.system', 'off', true)"
        )
    )
    rows = session.execute(
        sa.select(SignatureKey.key).where(SignatureKey.project_id == world.project_id)
    ).all()
    assert rows == []
