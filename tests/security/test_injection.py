"""SQL injection through every text a user controls is inert: parameters, never SQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from meshkeys.services import history, key_commands, key_queries
from meshkeys.services.history import AuditFilter

PAYLOADS = [
    "'; DROP TABLE signature_keys; --",
    "x' OR '1'='1",
    "\\'; SELECT pg_sleep(5); --",
    "a%' OR name_search LIKE '%",
]


@pytest.mark.parametrize("text", PAYLOADS)
def test_search_names_and_filters_carry_sql_as_plain_text(uow, session, world, text):
    key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="prod")
    named = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=text)
    page = key_queries.list_keys(uow(world.viewer), project_id=world.project_id, q=text)
    assert [k.id for k in page.items] == [named.id] and page.total == 1
    flt = AuditFilter(actor=text)
    assert history.list_events(uow(world.viewer), project_id=world.project_id, flt=flt).items == []
    tables = session.execute(sa.text("SELECT to_regclass('signature_keys') IS NOT NULL")).scalar()
    assert tables is True
