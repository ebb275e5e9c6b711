"""Correctness across processes: two app servers on one database and one Redis.

Every request below names the server it goes to (A or B); what one server committed must hold
on the other at the very next request, limits must count attempts once wherever they land, and
concurrent changes through both must leave every audit chain and counter right.
"""

from __future__ import annotations

import json
import random
import secrets
import subprocess
import sys
import threading
import time

import psycopg

from meshkeys.services import auth
from tests.cluster.conftest import Cluster, make_admin
from tests.e2e.apprunner import REPO_ROOT
from tests.helpers import PASSWORD


def _admin(cluster: Cluster, tag: str):
    return make_admin(tag)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_key_revoked_through_a_fails_sign_and_verify_through_b_at_once(cluster):
    _, project_id, token = _admin(cluster, "revoke")
    with (
        cluster.client(cluster.a, **_bearer(token)) as a,
        cluster.client(cluster.b, **_bearer(token)) as b,
    ):
        made = a.post("/keys/generate", json={"project_id": str(project_id), "name": "k"})
        assert made.status_code == 201, made.text
        key_id = made.json()["id"]
        signed = b.post("/webhooks/sign", json={"project_id": str(project_id), "payload": "{}"})
        assert signed.status_code == 200, signed.text
        headers = signed.json()["headers"]
        check = {"project_id": str(project_id), "payload": "{}", "headers": headers}
        assert b.post("/webhooks/verify", json=check).json()["valid"] is True

        revoked = a.post(
            f"/keys/{key_id}/revoke", json={"reason": "compromised", "grace_seconds": 0}
        )
        assert revoked.status_code == 200, revoked.text
        # The very next requests, on the other server:
        refused = b.post("/webhooks/sign", json={"project_id": str(project_id), "payload": "{}"})
        assert refused.status_code == 409, refused.text
        verdict = b.post("/webhooks/verify", json=check)
        assert verdict.status_code == 400 and verdict.json()["valid"] is False, verdict.text


def test_sign_in_failures_are_counted_once_across_both_servers(cluster):
    email, _, _ = _admin(cluster, "throttle")
    client_ip = f"198.51.100.{random.randint(1, 250)}"
    clients = [cluster.client(app, **{"X-Forwarded-For": client_ip}) for app in cluster.servers]
    try:
        for attempt in range(auth.MAX_FAILURES_PER_ACCOUNT):
            wrong = clients[attempt % 2].post(
                "/auth/login", json={"email": email, "password": "not-the-password"}
            )
            assert wrong.status_code == 401, wrong.text
        for client in clients:  # the right password now, on either server: over the limit
            right = client.post("/auth/login", json={"email": email, "password": PASSWORD})
            assert right.status_code == 429, right.text
            assert int(right.headers["retry-after"]) > 0
        # Counted per (account, client): another client address still signs in.
        with cluster.client(cluster.b, **{"X-Forwarded-For": "192.0.2.77"}) as other:
            ok = other.post("/auth/login", json={"email": email, "password": PASSWORD})
            assert ok.status_code == 200, ok.text
    finally:
        for client in clients:
            client.close()


def test_api_token_failures_are_counted_once_across_both_servers(cluster):
    _, project_id, token = _admin(cluster, "tokens")
    forwarded = {"X-Forwarded-For": f"203.0.113.{random.randint(1, 250)}"}
    clients = [cluster.client(app, **forwarded) for app in cluster.servers]
    try:
        for attempt in range(auth.MAX_TOKEN_FAILURES):
            bad = token[:7] + secrets.token_urlsafe(30)  # the same prefix: the same "account"
            answer = clients[attempt % 2].get(
                "/keys", params={"project_id": str(project_id)}, headers=_bearer(bad)
            )
            assert answer.status_code == 401, answer.text
        for client in clients:
            answer = client.get(
                "/keys", params={"project_id": str(project_id)}, headers=_bearer(token)
            )
            assert answer.status_code == 429, answer.text
    finally:
        for client in clients:
            client.close()


CLIENTS = 20
OPERATIONS = 4  # after each client's first generate


def test_twenty_concurrent_clients_through_both_leave_chains_and_counters_intact(cluster):
    teams = [_admin(cluster, f"load{i}") for i in range(2)]
    outcomes: dict[int, int] = {}
    lock = threading.Lock()
    errors: list[str] = []
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> None:
        _, project_id, token = teams[n % 2]
        rng = random.Random(n)
        https = [cluster.client(app, **_bearer(token)) for app in cluster.servers]
        mine: list[str] = []
        try:
            start.wait(timeout=60)
            for step in range(1 + OPERATIONS):
                http = https[(n + step) % 2]  # alternate servers on every request
                op = "generate" if not mine else rng.choice(["revoke", "reactivate", "rotate"])
                if op == "generate":
                    r = http.post(
                        "/keys/generate", json={"project_id": str(project_id), "name": f"c{n}"}
                    )
                elif op == "revoke":
                    r = http.post(
                        f"/keys/{rng.choice(mine)}/revoke",
                        json={"reason": "retired", "grace_seconds": 0},
                    )
                elif op == "reactivate":
                    r = http.post(f"/keys/{rng.choice(mine)}/reactivate")
                else:
                    r = http.post(f"/keys/{rng.choice(mine)}/rotate", json={"grace_seconds": 0})
                with lock:
                    outcomes[r.status_code] = outcomes.get(r.status_code, 0) + 1
                if r.status_code not in (200, 201, 409):
                    errors.append(f"{op}: {r.status_code} {r.text[:200]}")
                elif r.status_code == 201:
                    mine.append(r.json()["id"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"client {n}: {exc!r}")
        finally:
            for http in https:
                http.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    elapsed = time.monotonic() - started
    assert not errors, errors
    assert sum(outcomes.values()) == CLIENTS * (1 + OPERATIONS), outcomes
    print(f"\n{CLIENTS} clients x {1 + OPERATIONS} requests in {elapsed:.1f} s: {outcomes}")

    verify = subprocess.run(
        [sys.executable, "-m", "meshkeys.cli", "audit", "verify"],
        cwd=REPO_ROOT,
        env=cluster.a.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr

    with psycopg.connect(cluster.superuser_dsn) as conn:
        rows = conn.execute(
            "SELECT p.id, p.key_count, p.revoked_count, "
            "(SELECT count(*) FROM signature_keys k WHERE k.project_id = p.id), "
            "(SELECT count(*) FROM signature_keys k WHERE k.project_id = p.id "
            " AND k.status = 'revoked') FROM projects p"
        ).fetchall()
    for project_id, key_count, revoked_count, keys, revoked in rows:
        assert (key_count, revoked_count) == (keys, revoked), project_id
    assert sum(r[3] for r in rows) >= CLIENTS


def test_the_two_servers_wrote_one_audit_checkpoint_between_them(cluster):
    """Every worker writes a checkpoint when it starts and polls every minute; between two
    servers on one folder there is one (the race itself, under PostgreSQL's advisory lock:
    tests/integration/test_checkpoints_pg.py)."""
    files = sorted(cluster.checkpoints.glob("checkpoint-*.json"))
    assert len(files) == 1, files
    assert json.loads(files[0].read_text())["format"].startswith("meshkeys-audit-checkpoint")
