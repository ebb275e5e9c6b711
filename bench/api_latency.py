"""REST API latency on PostgreSQL for a small and a huge project, next to raw SQL, in one run.

    .venv/bin/python bench/api_latency.py                         # 1,000 and 1,000,000 keys
    .venv/bin/python bench/api_latency.py --sizes 1000 100000 --repeat 30

What it does:

1. connects to the local PostgreSQL as its superuser (``--admin-url``, default
   postgresql://postgres@127.0.0.1:5432/postgres, trust), creates the roles of a production
   install (README): ``meshkeys_bench`` owning a fresh database ``meshkeys_api_bench``, the
   runtime role ``meshkeys_bench_runtime`` and its login ``meshkeys_bench_app`` (none a superuser
   or BYPASSRLS: row-level security applies), migrates as the owner and runs as the app login;
2. seeds one project per size with real encrypted keys (``services.operations.seed_keys``, one key
   in ten revoked) and makes an owner with an API token;
3. starts the API as users run it: ``uvicorn --factory meshkeys.api.app:create_api``, one worker,
   on a free port, and calls it over HTTP with keep-alive (httpx);
4. per size, times ``--repeat`` calls of each operation and prints medians in milliseconds:
   list (first page of 50), generate, verify (a signature by the newest key), revoke (the keys
   generated just before, grace 0);
5. times the same operations as direct service calls in this process (the API minus HTTP, FastAPI
   and token lookup), and done with raw SQL (psycopg, same role, same RLS context, one transaction
   each, no ORM, no HTTP, no audit event, no crypto), and prints the ratio API / SQL.

The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["MESHKEYS_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
os.environ.pop("MESHKEYS_MASTER_KEYS", None)

import httpx  # noqa: E402
import psycopg  # noqa: E402
import standardwebhooks  # noqa: E402
from psycopg import sql  # noqa: E402

from meshkeys import migrations  # noqa: E402
from meshkeys.crypto.masterkey import get_keyring  # noqa: E402
from meshkeys.db import make_engine  # noqa: E402
from meshkeys.services import auth, key_commands, key_queries, operations, projects, signing  # noqa: E402
from meshkeys.services.context import Actor  # noqa: E402
from tests.helpers import call  # noqa: E402

ROLE = "meshkeys_bench"  # the owner
RUNTIME_ROLE = "meshkeys_bench_runtime"
APP_ROLE = "meshkeys_bench_app"
DATABASE = "meshkeys_api_bench"
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


def setup_database(admin_url: str) -> tuple[str, str]:
    """The owner's and the app's URLs of a fresh bench database."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for role, extra in ((ROLE, "LOGIN"), (RUNTIME_ROLE, "NOLOGIN"), (APP_ROLE, "LOGIN")):
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                admin.execute(
                    sql.SQL("CREATE ROLE {} " + extra + " NOSUPERUSER NOBYPASSRLS").format(
                        sql.Identifier(role)
                    )
                )
        admin.execute(
            sql.SQL("GRANT {} TO {}").format(sql.Identifier(RUNTIME_ROLE), sql.Identifier(APP_ROLE))
        )
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(ROLE)
            )
        )
    host = psycopg.conninfo.conninfo_to_dict(admin_url)
    where = f"{host.get('host', '127.0.0.1')}:{host.get('port', 5432)}"
    return tuple(f"postgresql+psycopg://{r}@{where}/{DATABASE}" for r in (ROLE, APP_ROLE))


def drop_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_api(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "MESHKEYS_DATABASE_URL": url}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "meshkeys.api.app:create_api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
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


def bench_api(client: httpx.Client, project_id: uuid.UUID, repeat: int) -> dict[str, list[float]]:
    pid = str(project_id)
    out = {
        "list": timed(
            lambda: client.get("/keys", params={"project_id": pid, "limit": 50}).raise_for_status(),
            repeat,
        )
    }
    made: list[dict] = []

    def generate():
        answer = client.post("/keys/generate", json={"project_id": pid, "name": "bench"})
        answer.raise_for_status()
        made.append(answer.json())

    out["generate"] = timed(generate, repeat)
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
            "/webhooks/verify", json={"project_id": pid, "payload": PAYLOAD, "headers": headers}
        )
        assert answer.json()["key_id"] == newest["id"], answer.text

    out["verify"] = timed(verify, repeat)
    todo = iter(made)
    out["revoke"] = timed(
        lambda: client.post(
            f"/keys/{next(todo)['id']}/revoke", json={"reason": "retired", "grace_seconds": 0}
        ).raise_for_status(),
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

        def verify(cur):
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
            "verify": timed(lambda: tx(verify), repeat),
        }
        out["revoke"] = timed(lambda: tx(revoke), repeat)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()

    owner_url, url = setup_database(args.admin_url)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    migrations.upgrade(owner_url, runtime_role=RUNTIME_ROLE)
    engine = make_engine(url)
    user = call(
        auth.create_user, bind=engine, email="bench@example.com", password=secrets.token_urlsafe(16)
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
    with psycopg.connect(
        args.admin_url.rsplit("/", 1)[0] + f"/{DATABASE}", autocommit=True
    ) as admin:
        admin.execute("VACUUM ANALYZE")

    process, base = start_api(url)
    results: dict[int, tuple[dict, dict, dict]] = {}
    try:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            for size, pid in projects_by_size.items():
                results[size] = (
                    bench_api(client, pid, args.repeat),
                    bench_services(url, actor, pid, args.repeat),
                    bench_sql(dsn, pid, user.id, args.repeat),
                )
    finally:
        process.terminate()
        process.wait(timeout=10)
        if not args.keep:
            drop_database(args.admin_url)

    print(
        f"\nmedian of {args.repeat} calls, milliseconds: API over HTTP / the same service call "
        f"in-process / raw SQL, and API / SQL. PostgreSQL, role {APP_ROLE} (RLS on)"
    )
    print(
        f"{'operation':<10}"
        + "".join(f"{f'{s:,} keys: API / service / SQL  ratio':>44}" for s in results)
    )
    for op in ("list", "generate", "revoke", "verify"):
        cells = []
        for api, service, raw in results.values():
            a, v, r = median_ms(api[op]), median_ms(service[op]), median_ms(raw[op])
            cells.append(f"{a:>10.2f} / {v:>7.2f} / {r:>6.2f}  {a / r:>5.1f}x")
        print(f"{op:<10}" + "".join(f"{c:>44}" for c in cells))


if __name__ == "__main__":
    main()
