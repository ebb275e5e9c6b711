"""The audit page's CSV export writes what the API's does, formulas neutralised."""

from __future__ import annotations

import csv
import io

from meshkeys.services import history, keys
from meshkeys.ui.state.audit import csv_text


def test_ui_csv_equals_the_api_csv_and_neutralises_formulas(session, world):
    keys.generate_key(
        session,
        actor=world.admin,
        project_id=world.project_id,
        name='=HYPERLINK("http://evil.example","click")',
    )
    events = list(history.export_events(session, actor=world.viewer, project_id=world.project_id))
    text, count = csv_text(iter(events))
    assert count == len(events) and text == "".join(history.export_lines(events, "csv"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["key_name"].startswith("'=HYPERLINK")
