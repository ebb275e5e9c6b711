"""`meshkeys audit verify|checkpoint` and `master-key rotate` from the command line."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from meshkeys import db
from tests.helpers import PASSWORD, random_master_key, use_master_keys


@pytest.fixture
def run(cli):
    invoke = cli
    invoke("user", "create", "ops@example.com", "--password-stdin", input=PASSWORD + "\n")
    project = invoke("project", "create", "Payments", "--owner", "ops@example.com").stdout.strip()
    for name in ("a", "b"):
        invoke(
            "keys", "generate", "--project", project, "--name", name, "--user", "ops@example.com"
        )
    return invoke


def _tamper(sql: str) -> None:
    with db.get_engine().begin() as conn:
        conn.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        conn.execute(sa.text("DROP TRIGGER audit_events_no_delete"))
        conn.execute(sa.text(sql))


def test_verify_reports_ok_as_text_and_json(run):
    assert run("audit", "verify").stdout.startswith("ok: 1 chains, 3 events intact")
    report = json.loads(run("audit", "verify", "--json").stdout)
    assert report == {"ok": True, "chains": 1, "events": 3, "checkpoint": None, "broken": None}


def test_verify_names_the_first_broken_event_and_exits_1(run):
    _tamper("UPDATE audit_events SET key_name = 'other' WHERE seq = 2")
    text = run("audit", "verify", code=1).stdout
    assert "BROKEN chain" in text and "at event #2 (" in text
    report = json.loads(run("audit", "verify", "--json", code=1).stdout)
    assert report["ok"] is False and report["broken"]["seq"] == 2
    assert (
        report["broken"]["event_id"] and "does not match the content" in report["broken"]["problem"]
    )


def test_checkpoint_then_truncation_is_caught(run, tmp_path):
    out = tmp_path / "checkpoints"
    path = run("audit", "checkpoint", "--out", str(out)).stdout.strip()
    body = json.loads(open(path).read())
    assert body["format"] == "meshkeys-audit-checkpoint/1" and body["signature"]
    assert [head["seq"] for head in body["chains"].values()] == [3]
    ok = json.loads(run("audit", "verify", "--checkpoints", str(out), "--json").stdout)
    assert ok["ok"] and ok["checkpoint"] == path
    _tamper("DELETE FROM audit_events WHERE seq = 3")
    with db.get_engine().begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE audit_heads SET seq = 2, head_hash = "
                "(SELECT hash FROM audit_events WHERE seq = 2)"
            )
        )
    assert run("audit", "verify").stdout.startswith("ok")  # a consistent shorter chain
    report = json.loads(run("audit", "verify", "--checkpoints", str(out), "--json", code=1).stdout)
    assert report["broken"]["seq"] == 3 and "truncated" in report["broken"]["problem"]


def test_verify_against_an_empty_folder_says_so(run, tmp_path):
    result = run("audit", "verify", "--checkpoints", str(tmp_path), code=2)
    assert "no checkpoint" in result.stderr


def test_checkpoint_into_a_folder_it_cannot_write_is_a_clean_error(run, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("audit", "checkpoint", "--out", str(blocker / "sub"), code=2)
    assert "cannot write a checkpoint" in result.stderr


def test_master_key_rotate_without_the_old_key_is_a_clean_error(run, monkeypatch):
    use_master_keys(monkeypatch, random_master_key())
    result = run("master-key", "rotate", code=2)
    assert "MESHKEYS_MASTER_KEYS" in result.stderr and "Traceback" not in result.output


def test_master_key_rotate_with_the_old_key_listed(run, monkeypatch):
    import os

    old = os.environ["MESHKEYS_MASTER_KEY"]
    use_master_keys(monkeypatch, random_master_key(), old)
    assert "re-encrypted 2 secrets" in run("master-key", "rotate").stdout
    assert run("audit", "verify").stdout.startswith("ok")
