"""The audit page's CSV export: every event, one row each, in the API's columns, formulas
neutralised."""

from __future__ import annotations

import csv
import io

from meshkeys.services import history, key_commands
from meshkeys.ui.state.audit import csv_text


def test_ui_csv_holds_every_event_in_the_api_columns_and_neutralises_formulas(uow, world):
    key_commands.generate_key(
        uow(world.admin),
        project_id=world.project_id,
        name='=HYPERLINK("http://evil.example","click")',
    )
    events = list(history.export_events(uow(world.viewer), project_id=world.project_id))
    text, count = csv_text(iter(events))
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == history.CSV_COLUMNS
    assert count == len(events) == len(rows) >= 3  # project created, 2 members, the key
    assert [(int(r["seq"]), r["action"]) for r in rows] == [(e.seq, e.action) for e in events]
    assert [r["actor_email"] for r in rows] == [e.actor_email for e in events]
    assert rows[0]["key_name"] == '\'=HYPERLINK("http://evil.example","click")'
