"""Faults under load, through both app servers: PostgreSQL stopped and started again, Redis
stopped and started again. Nothing acknowledged is lost, nothing is written twice, every key
has its audit event, and the servers recover without a restart.

The figures (requests, 201s, 503s, the time to the first 503 and back to 200) are printed:
`-s` shows them.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx

from tests.cluster.conftest import Cluster, check_keys_against_log, make_admin
from tests.e2e.apprunner import REPO_ROOT

LOADERS = 4


class Load:
    """``LOADERS`` threads generating keys through A and B in turn until stopped."""

    def __init__(self, cluster: Cluster, project_id, token: str, servers=None) -> None:
        self.servers = servers or cluster.servers
        self.statuses: Counter[int] = Counter()
        self.acknowledged: set[str] = set()
        self.slowest = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._names = itertools.count()
        self._threads = [
            threading.Thread(target=self._run, args=(cluster, project_id, token, n))
            for n in range(LOADERS)
        ]

    def _run(self, cluster: Cluster, project_id, token: str, n: int) -> None:
        clients = [cluster.client(app, Authorization=f"Bearer {token}") for app in cluster.servers]
        try:
            for i in itertools.count():
                if self._stop.is_set():
                    return
                started = time.monotonic()
                try:
                    r = clients[(n + i) % len(clients)].post(
                        "/keys/generate",
                        json={"project_id": str(project_id), "name": f"load{next(self._names)}"},
                    )
                    status, key = (
                        r.status_code,
                        r.json().get("id") if r.status_code == 201 else None,
                    )
                except httpx.HTTPError:
                    status, key = 0, None  # no answer at all
                with self._lock:
                    self.statuses[status] += 1
                    self.slowest = max(self.slowest, time.monotonic() - started)
                    if key:
                        self.acknowledged.add(key)
                if status != 201:
                    time.sleep(0.05)
        finally:
            for client in clients:
                client.close()

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def _timed(call):
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def _wait_healthy(cluster: Cluster, timeout: float = 30) -> float:
    started = time.monotonic()
    for app in cluster.servers:
        while httpx.get(app.url + "/health", timeout=5).status_code != 200:
            assert time.monotonic() - started < timeout, f"{app.url} did not recover"
            time.sleep(0.1)
    return time.monotonic() - started


def test_postgresql_stopped_under_load_fails_fast_and_recovers_without_a_restart(cluster):
    _, project_id, token = make_admin("pgfault")
    bearer = {"Authorization": f"Bearer {token}"}
    with Load(cluster, project_id, token) as load:
        time.sleep(1.5)
        cluster.pg.stop()
        try:
            for app in cluster.servers:
                with cluster.client(app, **bearer) as client:
                    health, seconds = _timed(lambda c=client: c.get("/health"))
                    assert health.status_code == 503 and seconds < 2, (health.text, seconds)
                    keys, seconds = _timed(
                        lambda c=client: c.get("/keys", params={"project_id": str(project_id)})
                    )
                    assert keys.status_code == 503 and seconds < 2, (keys.text, seconds)
                    assert "database is unavailable" in keys.json()["detail"]
            time.sleep(2)  # the load keeps knocking
        finally:
            cluster.pg.start()
        recovered = _wait_healthy(cluster)
        before = load.statuses[201]
        time.sleep(1.5)
    after = load.statuses[201] - before
    print(
        f"\nPostgreSQL stopped under load: {sum(load.statuses.values())} requests "
        f"{dict(load.statuses)}, back to 200 in {recovered:.1f} s after the start, "
        f"slowest answer {load.slowest:.1f} s, {after} keys acknowledged in the 1.5 s after "
        "recovery"
    )
    assert set(load.statuses) <= {201, 503}, load.statuses  # no 500, no hang
    assert load.statuses[503] > 0 and after > 0
    keys, unacknowledged = check_keys_against_log(cluster, project_id, load.acknowledged)
    print(
        f"keys acknowledged {len(load.acknowledged)}, in the database {len(keys)}, "
        f"committed but not acknowledged {len(unacknowledged)}"
    )
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


def test_redis_stopped_leaves_the_api_working_and_recovers(cluster):
    """Redis holds only the tabs' state: the API (generate, sign, list) goes on without it, on
    both servers, and after Redis is back."""
    _, project_id, token = make_admin("redisfault")
    cluster.redis.stop()
    try:
        with cluster.client(cluster.a, Authorization=f"Bearer {token}") as client:
            made, seconds = _timed(
                lambda: client.post(
                    "/keys/generate", json={"project_id": str(project_id), "name": "no-redis"}
                )
            )
            assert made.status_code == 201 and seconds < 2, made.text
            signed = client.post(
                "/webhooks/sign", json={"project_id": str(project_id), "payload": "{}"}
            )
            assert signed.status_code == 200, signed.text
    finally:
        cluster.redis.start()
    with cluster.client(cluster.b, Authorization=f"Bearer {token}") as client:
        listed = client.get("/keys", params={"project_id": str(project_id)})
        assert listed.status_code == 200 and len(listed.json()["items"]) == 1
