"""REST API latency on PostgreSQL for a small and a huge project, next to raw SQL, in one run.

    .venv/bin/python bench/api_latency.py                         # 1,000 and 1,000,000 keys
    .venv/bin/python bench/api_latency.py --sizes 1000 100000 --repeat 30 --runs 3

What it does:

1. starts a throwaway PostgreSQL (``tests/pgserver.py``: a fresh cluster from the local server
   binaries, or a fresh database and roles where ``MESHKEYS_TEST_DATABASE_URL`` names a server),
   with the roles of a production install: the tables owned by the owner role, the app logged in
   as a member of the runtime role (neither a superuser nor BYPASSRLS: row-level security
   applies); migrates as the owner;
2. seeds one project per size with real encrypted keys (``services.operations.seed_keys``, one key
   in ten revoked) and makes an owner with an API token;
3. starts the API on the production server (granian, ``--factory meshkeys.api.app:create_api``,
   one worker) on a free port, and calls it over HTTP/1.1 with keep-alive on one connection
   (``http.client``: a client whose own cost is small next to the API's);
4. per size, times ``--repeat`` calls of each operation: list (first page of 50), generate,
   sign (``POST /webhooks/sign``: every active key, at most 20, signs), verify (a signature by the
   newest key), revoke (the keys generated just before, grace 0);
5. times the same operations as direct service calls in this process (the API minus HTTP, FastAPI,
   token lookup and the API's cache), and as raw SQL (psycopg, same role, same RLS context, one
   transaction each, no ORM, no HTTP, no audit event, no crypto);
   It also times a 404 from the same server (no database): the HTTP floor, client included.
6. repeats 4-5 ``--runs`` times and prints the median over the runs of each run's median, in
   milliseconds, and the ratio API / SQL.

Targets (issue 12, target 3), printed as ``ok`` or ``MISS`` (exit 1 on a miss): every API p50 at
the largest size within 1.3x of the same at the smallest; the API's p50 for list, sign and verify
within 3x of raw SQL at every size.
"""

from __future__ import annotations

import argparse
import base64
import gc
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["MESHKEYS_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
os.environ.pop("MESHKEYS_MASTER_KEYS", None)

import httpx  # noqa: E402 (the readiness probe only)
import psycopg  # noqa: E402
import standardwebhooks  # noqa: E402

from meshkeys import migrations  # noqa: E402
from meshkeys.crypto.masterkey import get_keyring  # noqa: E402
from meshkeys.db import make_engine  # noqa: E402
from meshkeys.services import auth, key_commands, key_queries, operations, projects, signing  # noqa: E402
from meshkeys.services.context import Actor  # noqa: E402
from tests.helpers import call  # noqa: E402
from tests.pgserver import pg_server  # noqa: E402

# Issue 12, target 3.
SIZE_RATIO = 1.3  # every API p50 at the largest size against the smallest
SQL_RATIO = 3.0  # the API's p50 against raw SQL's, for these operations:
SQL_RATIO_OPS = ("list", "sign", "verify")
OPERATIONS = ("list", "generate", "sign", "verify", "revoke")

PAYLOAD = '{"type":"invoice.paid","id":"in_123","amount":4200}'


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm caches and plans
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_api(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "MESHKEYS_DATABASE_URL": url}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("granian")),
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-log",
            "meshkeys.api.app:create_api",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the API did not start within 60 s")


class Client:
    """HTTP/1.1 with keep-alive on one connection (``http.client``), the bearer token on each call.

    Not httpx: its own cost per request (about 0.7 ms here, measured against this client on the
    same 404) would be counted as the API's.
    """

    def __init__(self, base: str, token: str) -> None:
        self.connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> Answer:
        data = None if body is None else json.dumps(body)
        self.connection.request(method, path, body=data, headers=self.headers)
        response = self.connection.getresponse()
        return Answer(response.status, response.read())

    def get(self, path: str, **params: object) -> Answer:
        return self.call("GET", f"{path}?{urlencode(params)}" if params else path)

    def post(self, path: str, body: dict) -> Answer:
        return self.call("POST", path, body)

    def close(self) -> None:
        self.connection.close()


@dataclass
class Answer:
    status: int
    body: bytes

    def ok(self) -> Answer:
        if not 200 <= self.status < 300:
            raise SystemExit(f"the API answered {self.status}: {self.body[:300]!r}")
        return self

    def json(self) -> dict:
        return json.loads(self.body)


def bench_api(client: Client, project_id: uuid.UUID, repeat: int) -> dict[str, list[float]]:
    pid = str(project_id)
    out = {
        # the HTTP stack alone, client included: an unknown path, answered 404 with no database
        "floor": timed(lambda: client.get("/no-such-path"), repeat),
        "list": timed(
            lambda: client.get("/keys", project_id=pid, limit=50).ok(),
            repeat,
        ),
    }
    made: list[dict] = []

    def generate():
        made.append(client.post("/keys/generate", {"project_id": pid, "name": "bench"}).ok().json())

    out["generate"] = timed(generate, repeat)
    out["sign"] = timed(
        lambda: client.post("/webhooks/sign", {"project_id": pid, "payload": PAYLOAD}).ok(),
        repeat,
    )
    newest = made[-1]
    at = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_bench",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": standardwebhooks.Webhook(newest["secret"]).sign(
            "msg_bench", at, PAYLOAD
        ),
    }

    def verify():
        answer = client.post(
            "/webhooks/verify", {"project_id": pid, "payload": PAYLOAD, "headers": headers}
        )
        assert answer.ok().json()["key_id"] == newest["id"], answer.body

    out["verify"] = timed(verify, repeat)
    todo = iter(made)
    out["revoke"] = timed(
        lambda: client.post(
            f"/keys/{next(todo)['id']}/revoke", {"reason": "retired", "grace_seconds": 0}
        ).ok(),
        repeat,
    )
    return out


def bench_services(
    url: str, actor: Actor, project_id: uuid.UUID, repeat: int
) -> dict[str, list[float]]:
    """The same operations as direct service calls in this process: the API minus HTTP."""
    engine = make_engine(url)
    try:
        out = {
            "list": timed(
                lambda: call(
                    key_queries.list_keys, actor, bind=engine, project_id=project_id, limit=50
                ),
                repeat,
            )
        }
        made = []
        out["generate"] = timed(
            lambda: made.append(
                call(
                    key_commands.generate_key,
                    actor,
                    bind=engine,
                    project_id=project_id,
                    name="bench",
                )
            ),
            repeat,
        )
        out["sign"] = timed(
            lambda: call(
                signing.sign_payload,
                actor,
                bind=engine,
                project_id=project_id,
                payload=PAYLOAD.encode(),
            ),
            repeat,
        )
        newest = made[-1]
        at = datetime.now(UTC)
        headers = {
            "webhook-id": "msg_bench",
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": standardwebhooks.Webhook(newest.secret).sign(
                "msg_bench", at, PAYLOAD
            ),
        }
        out["verify"] = timed(
            lambda: call(
                signing.verify_payload,
                actor,
                bind=engine,
                project_id=project_id,
                payload=PAYLOAD.encode(),
                headers=headers,
            ),
            repeat,
        )
        todo = iter(made)
        out["revoke"] = timed(
            lambda: call(
                key_commands.revoke_key, actor, bind=engine, key_id=next(todo).id, reason="retired"
            ),
            repeat,
        )
        return out
    finally:
        engine.dispose()


def bench_sql(
    dsn: str, project_id: uuid.UUID, user_id: uuid.UUID, repeat: int
) -> dict[str, list[float]]:
    """The same operations as bare SQL: the floor that the API's work sits on."""
    with psycopg.connect(dsn) as conn:

        def tx(statements: Callable[[psycopg.Cursor], object]) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT set_config('meshkeys.user_id', %s, true)", (str(user_id),))
                statements(cur)

        def list_page(cur):
            cur.execute(
                "SELECT id, name, key_hint, status, revoke_reason, created_at, created_by, "
                "revoked_at, expires_at FROM signature_keys WHERE project_id = %s "
                "ORDER BY created_at DESC, id DESC LIMIT 51",
                (project_id,),
            )
            cur.fetchall()
            cur.execute(
                "SELECT key_count, revoked_count FROM projects WHERE id = %s", (project_id,)
            )
            cur.fetchone()

        made: list[uuid.UUID] = []

        def generate(cur):
            key_id = uuid.uuid4()
            cur.execute(
                "INSERT INTO signature_keys (id, project_id, name, name_search, key, key_hint, "
                "status, created_at, created_by) "
                "VALUES (%s, %s, 'bench', 'bench', %s, 'abcd', 'active', now(), %s)",
                (key_id, project_id, "mk1.1." + secrets.token_urlsafe(60), user_id),
            )
            cur.execute(
                "UPDATE projects SET key_count = key_count + 1 WHERE id = %s", (project_id,)
            )
            made.append(key_id)

        def signing_keys(cur):
            cur.execute(
                "SELECT id, key FROM signature_keys WHERE project_id = %s AND "
                "(status = 'active' OR expires_at > now()) "
                "ORDER BY created_at DESC, id DESC LIMIT 20",
                (project_id,),
            )
            cur.fetchall()

        todo = iter(made)

        def revoke(cur):
            key_id = next(todo)
            cur.execute("SELECT status FROM signature_keys WHERE id = %s FOR UPDATE", (key_id,))
            cur.execute(
                "UPDATE signature_keys SET status = 'revoked', revoke_reason = 'retired', "
                "revoked_at = now() WHERE id = %s",
                (key_id,),
            )
            cur.execute(
                "UPDATE projects SET revoked_count = revoked_count + 1 WHERE id = %s", (project_id,)
            )

        out = {
            "list": timed(lambda: tx(list_page), repeat),
            "generate": timed(lambda: tx(generate), repeat),
            "sign": timed(lambda: tx(signing_keys), repeat),
            "verify": timed(lambda: tx(signing_keys), repeat),
        }
        out["revoke"] = timed(lambda: tx(revoke), repeat)
        return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=30, help="calls per operation per run")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median of their medians")
    args = parser.parse_args()
    print(f"bench/api_latency.py, load {load()} at start", flush=True)

    with pg_server() as pg:
        migrations.upgrade(pg.owner_url, runtime_role=pg.runtime_role)
        engine = make_engine(pg.app_url)
        user = call(
            auth.create_user,
            bind=engine,
            email="bench@example.com",
            password=secrets.token_urlsafe(16),
        )
        actor = Actor(user_id=user.id, email=user.email)
        token = call(auth.create_api_token, actor, bind=engine, name="bench").token
        projects_by_size = {}
        for size in args.sizes:
            project = call(projects.create_project, actor, bind=engine, name=f"bench-{size}")
            started = time.perf_counter()
            call(
                operations.seed_keys,
                system=True,
                bind=engine,
                project_id=project.id,
                count=size,
                created_by=user.id,
                keyring=get_keyring(),
            )
            took = time.perf_counter() - started
            print(f"seeded {size:,} keys in {took:.1f} s ({size / took:,.0f} keys/s)", flush=True)
            projects_by_size[size] = project.id
        engine.dispose()
        with psycopg.connect(pg.owner_dsn, autocommit=True) as owner:
            owner.execute("VACUUM ANALYZE")

        process, base = start_api(pg.app_url)
        runs: dict[int, list[tuple[dict, dict, dict]]] = {size: [] for size in args.sizes}
        client = Client(base, token)
        gc.collect()
        gc.freeze()  # the seeding's objects: out of this process's collections while it times
        try:
            for run in range(args.runs):
                for size, pid in projects_by_size.items():
                    runs[size].append(
                        (
                            bench_api(client, pid, args.repeat),
                            bench_services(pg.app_url, actor, pid, args.repeat),
                            bench_sql(pg.app_dsn, pid, user.id, args.repeat),
                        )
                    )
                print(f"run {run + 1} of {args.runs} done, load {load()}", flush=True)
        finally:
            client.close()
            process.terminate()
            process.wait(timeout=10)

    def p50(size: int, column: int, op: str) -> float:
        """The median over the runs of each run's median, ms."""
        return statistics.median(median_ms(r[column][op]) for r in runs[size])

    print(
        f"\nmilliseconds, the median of {args.runs} runs' medians of {args.repeat} calls: API over "
        "HTTP / the same service call in-process / raw SQL, and API / SQL. PostgreSQL as the "
        "runtime role (RLS on)"
    )
    print(
        f"{'operation':<10}"
        + "".join(f"{f'{s:,} keys: API / service / SQL  ratio':>44}" for s in args.sizes)
    )
    for op in OPERATIONS:
        cells = []
        for size in args.sizes:
            a, v, r = p50(size, 0, op), p50(size, 1, op), p50(size, 2, op)
            cells.append(f"{a:>10.2f} / {v:>7.2f} / {r:>6.2f}  {a / r:>5.1f}x")
        print(f"{op:<10}" + "".join(f"{c:>44}" for c in cells))
    floors = " / ".join(f"{p50(size, 0, 'floor'):.2f}" for size in args.sizes)
    print(f"HTTP floor (a 404 from the same server, no database): {floors} ms")
    print(f"load {load()} at the end")

    small, large = min(args.sizes), max(args.sizes)
    checks: list[tuple[str, float, str]] = []
    if large != small:
        for op in OPERATIONS:
            ratio = p50(large, 0, op) / p50(small, 0, op)
            checks.append((f"API {op}: {large:,} / {small:,} keys", ratio, f"<= {SIZE_RATIO}"))
    for size in args.sizes:
        for op in SQL_RATIO_OPS:
            ratio = p50(size, 0, op) / p50(size, 2, op)
            checks.append((f"API / SQL {op}, {size:,} keys", ratio, f"<= {SQL_RATIO}"))
    missed = 0
    for label, value, target in checks:
        ok = value <= float(target.split()[-1])
        missed += not ok
        print(f"{'ok  ' if ok else 'MISS'} {label:<36}{value:>7.2f}  (target {target})")
    print(f"bench/api_latency.py: {'all targets met' if not missed else f'{missed} missed'}")
    return 1 if missed else 0


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    sys.exit(main())
