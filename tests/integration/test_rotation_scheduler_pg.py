"""Two scheduler processes on one PostgreSQL, the clock moved past the due time: every due key
is rotated exactly once, by the system, and a restart rotates nothing again.

Each process runs the app's own task (``rotation_policy.run_in_background``, through
tests/integration/rotation_runner.py) as the runtime role under row-level security; the clock
is moved with ``MESHKEYS_CLOCK_OFFSET_SECONDS`` (a function cannot be replaced in another
process).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

from meshkeys import clock
from meshkeys.crypto.masterkey import get_keyring
from meshkeys.models import AuditEvent, KeyStatus, SignatureKey
from meshkeys.services import audit, key_commands, operations, rotation_policy
from tests.helpers import make_world, units

ROOT = Path(__file__).resolve().parents[2]
DAYS = 30
OFFSET = str((DAYS + 1) * 86400)


def _start(url: str, go: Path, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "MESHKEYS_DATABASE_URL": url,
        "MESHKEYS_ROTATION_INTERVAL_SECONDS": "0.1",
        "MESHKEYS_CLOCK_OFFSET_SECONDS": OFFSET,
        "MESHKEYS_LOG_JSON": "0",
    }
    env.pop("MESHKEYS_ENV", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.rotation_runner", str(go)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        start_new_session=True,
    )
    return proc


def _ready(proc: subprocess.Popen, log: Path) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"runner did not start: {log.read_text()[-2000:]}"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # as a worker dies: nothing is cleaned up
    proc.wait(timeout=10)


def _rotated_events(uow_factory) -> list[AuditEvent]:
    with uow_factory(system=True) as uow:
        rows = uow.session.exec(
            select(AuditEvent).where(AuditEvent.action == audit.KEY_ROTATED)
        ).all()
        uow.session.expunge_all()
    return list(rows)


def _keys(uow_factory) -> list[SignatureKey]:
    with uow_factory(system=True) as uow:
        rows = uow.session.exec(select(SignatureKey)).all()
        uow.session.expunge_all()
    return list(rows)


def test_two_schedulers_rotate_each_due_key_once_and_a_restart_rotates_nothing(
    committed_db, tmp_path
):
    url = committed_db.url.render_as_string(hide_password=False)
    make = units(committed_db)
    world = make_world(make)
    with make(world.admin) as uow:
        due = [
            key_commands.generate_key(uow, project_id=world.project_id, name=f"k{n}").id
            for n in range(60)
        ]
    with make(world.outsider) as uow:
        due += [
            key_commands.generate_key(uow, project_id=world.other_project_id, name=f"o{n}").id
            for n in range(20)
        ]
    with make(world.admin) as uow:
        revoked = key_commands.generate_key(uow, project_id=world.project_id, name="revoked")
        key_commands.revoke_key(uow, key_id=revoked.id, reason="retired")
        by_hand = key_commands.generate_key(uow, project_id=world.project_id, name="by-hand")
        successor = key_commands.rotate_key(uow, key_id=by_hand.id, grace_seconds=3600)
        rotation_policy.set_policy(
            uow, project_id=world.project_id, rotate_every_days=DAYS, grace_seconds=600
        )
    with make(world.outsider) as uow:
        rotation_policy.set_policy(
            uow, project_id=world.other_project_id, rotate_every_days=DAYS, grace_seconds=0
        )
    due.append(successor.id)  # the successor of a rotation by hand is itself due in N days
    keys_before = len(_keys(make))
    manual_rotations = len(_rotated_events(make))

    go = tmp_path / "go"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_start(url, go, log) for log in logs]  # both start at once
    try:
        for proc, log in zip(procs, logs, strict=True):
            _ready(proc, log)
        go.touch()
        deadline = time.monotonic() + 60
        while len(_rotated_events(make)) < manual_rotations + len(due):
            assert time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
            assert all(p.poll() is None for p in procs), [log.read_text()[-2000:] for log in logs]
            time.sleep(0.2)
        time.sleep(1.0)  # ten more runs of each: nothing is rotated twice
    finally:
        for proc in procs:
            _stop(proc)

    events = [e for e in _rotated_events(make) if e.actor_email == "system"]
    counts = collections.Counter(e.key_id for e in events)
    assert set(counts) == set(due) and set(counts.values()) == {1}
    assert all(
        e.actor_id is None and e.details["policy"]["rotate_every_days"] == DAYS for e in events
    )
    keys = _keys(make)
    assert len(keys) == keys_before + len(due)
    by_id = {k.id: k for k in keys}
    assert by_id[revoked.id].revoke_reason == "retired"  # revoked keys are not rotated
    successors = [k for k in keys if k.rotated_from in set(due)]
    assert len(successors) == len(due) and all(k.status == KeyStatus.ACTIVE for k in successors)
    # Both processes did part of the work, and their parts add up to the whole.
    per_process = [log.read_text().count(" key.rotated seq=") for log in logs]
    assert sum(per_process) == len(due), per_process
    assert all(n > 0 for n in per_process), per_process
    with make(system=True) as uow:  # two writers, one chain per project: still unbroken
        assert operations.verify_all_chains(uow, keyring=get_keyring()).broken is None

    # A restart (same clock): nothing is due any more, so nothing rotates.
    restarted = _start(url, tmp_path / "go", tmp_path / "c.log")
    try:
        _ready(restarted, tmp_path / "c.log")
        time.sleep(1.5)
        assert restarted.poll() is None, (tmp_path / "c.log").read_text()[-2000:]
    finally:
        _stop(restarted)
    assert len(_rotated_events(make)) == manual_rotations + len(due)
    assert len(_keys(make)) == keys_before + len(due)
    assert " key.rotated seq=" not in (tmp_path / "c.log").read_text()


def test_the_due_keys_query_is_an_index_range_under_rls(uow, session, world, monkeypatch):
    """EXPLAIN the exact statement a batch of ``rotate_due`` sends, as the system under RLS, on
    a project of 5,000 keys: a range of (project_id, status, created_at, id), no sort, no scan of
    the table, so a run reads only the keys it rotates."""
    operations.seed_keys(
        uow(system=True),
        project_id=world.project_id,
        count=5_000,
        created_by=world.owner.user_id,
        keyring=get_keyring(),
    )
    rotation_policy.set_policy(
        uow(world.owner), project_id=world.project_id, rotate_every_days=1, grace_seconds=0
    )
    later = datetime.now(UTC) + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    connection = session.connection()
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FOR UPDATE SKIP LOCKED" in statement and "signature_keys" in statement:
            captured.append((statement, parameters))

    sa.event.listen(connection, "before_cursor_execute", capture)
    try:
        assert rotation_policy.rotate_due(uow(system=True), batch=5, limit=5) == 5
    finally:
        sa.event.remove(connection, "before_cursor_execute", capture)
    (statement, params), *_ = captured
    plan = "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + statement, params))
    assert "ix_signature_keys_project_status" in plan, plan
    assert "Seq Scan on signature_keys" not in plan and "Sort" not in plan, plan
