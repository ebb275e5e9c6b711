"""Service-layer latency on a small and a huge project, in one run.

    .venv/bin/python bench/services_latency.py                      # SQLite, 100 vs 1,000,000 keys
    .venv/bin/python bench/services_latency.py --sizes 100 100000 --repeat 30
    .venv/bin/python bench/services_latency.py --postgres postgresql+psycopg://USER@HOST/DB

For each project size it seeds real encrypted keys (meshkeys.services.operations.seed_keys), then
times each operation `--repeat` times and prints the median in milliseconds and the ratio
large/small. The point: a project with a million keys must answer like one with a hundred.
The PostgreSQL URL must name an empty database and the app's runtime login (not a superuser:
RLS applies); ``--owner-url`` names its owner, who migrates and grants ``MESHKEYS_RUNTIME_ROLE``
(README, "PostgreSQL in production: two roles").
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("MESHKEYS_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())


from sqlalchemy.engine import Engine  # noqa: E402

from meshkeys import migrations  # noqa: E402
from meshkeys.crypto.masterkey import get_keyring  # noqa: E402
from meshkeys.db import make_engine  # noqa: E402
from meshkeys.services import auth, key_commands, key_queries, operations, projects, signing  # noqa: E402
from meshkeys.services.context import Actor  # noqa: E402
from tests.helpers import call  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    fn()  # warm caches and plans
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def bench_project(engine: Engine, actor: Actor, size: int, repeat: int) -> dict[str, float]:
    """Each operation as a door runs it: one unit of work per call."""

    def run(fn, who=actor, **kwargs):
        return call(fn, who, bind=engine, **kwargs)

    project = run(projects.create_project, name=f"bench-{size}")
    started = time.perf_counter()
    run(
        operations.seed_keys,
        None,
        system=True,
        project_id=project.id,
        count=size,
        created_by=actor.user_id,
        keyring=get_keyring(),
    )
    seed_s = time.perf_counter() - started
    print(f"  seeded {size:,} keys in {seed_s:.1f} s ({size / seed_s:,.0f} keys/s)", flush=True)
    pid = project.id
    first = run(key_queries.list_keys, project_id=pid)
    deep_cursor = first.next_cursor
    for _ in range(19):  # a cursor up to twenty pages in (as deep as a small project goes)
        following = run(key_queries.list_keys, project_id=pid, cursor=deep_cursor).next_cursor
        if following is None:
            break
        deep_cursor = following
    state = {"key": run(key_commands.generate_key, project_id=pid, name="bench")}

    def revoke_reactivate():
        run(key_commands.revoke_key, key_id=state["key"].id, reason="retired")
        run(key_commands.reactivate_key, key_id=state["key"].id)

    headers = run(signing.sign_payload, project_id=pid, payload=b'{"a":1}')
    # Verify runs before generate: generating pushes the signing keys out of the newest 20.
    ops = {
        "list first page": lambda: run(key_queries.list_keys, project_id=pid),
        "list a later page (cursor)": lambda: run(
            key_queries.list_keys, project_id=pid, cursor=deep_cursor
        ),
        "list revoked only": lambda: run(key_queries.list_keys, project_id=pid, status="revoked"),
        "search name prefix": lambda: run(key_queries.list_keys, project_id=pid, q="seed-00000"),
        "totals by status": lambda: run(key_queries.key_totals, project_id=pid),
        "verify (newest 20 active keys)": lambda: run(
            signing.verify_payload, project_id=pid, payload=b'{"a":1}', headers=headers
        ),
        "generate": lambda: run(key_commands.generate_key, project_id=pid, name="g"),
        "revoke + reactivate": revoke_reactivate,
    }
    return {name: median_ms(fn, repeat) for name, fn in ops.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs=2, default=[100, 1_000_000], metavar=("SMALL", "LARGE")
    )
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument(
        "--postgres", help="an empty PostgreSQL database URL (default: a SQLite file)"
    )
    parser.add_argument("--owner-url", help="the owner's URL of the --postgres database")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="meshkeys-bench-")
    url = args.postgres or f"sqlite:///{tmp}/bench.db"
    migrations.upgrade(args.owner_url or url)
    engine = make_engine(url)
    print(f"database: {engine.dialect.name}; medians of {args.repeat} runs", flush=True)
    email = f"bench-{os.getpid()}@example.com"
    user = call(auth.create_user, bind=engine, email=email, password="bench-password-1")
    actor = Actor(user_id=user.id, email=user.email)
    small_n, large_n = args.sizes
    print(f"project of {small_n:,} keys", flush=True)
    small = bench_project(engine, actor, small_n, args.repeat)
    print(f"project of {large_n:,} keys", flush=True)
    large = bench_project(engine, actor, large_n, args.repeat)
    print()
    print(f"| operation | {small_n:,} keys (ms) | {large_n:,} keys (ms) | ratio |")
    print("|---|---:|---:|---:|")
    for name in small:
        print(
            f"| {name} | {small[name]:.2f} | {large[name]:.2f} | {large[name] / small[name]:.2f} |"
        )


if __name__ == "__main__":
    main()
