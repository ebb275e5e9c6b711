"""`meshkeys seed --keys N` on PostgreSQL and on SQLite, timed as an operator runs it.

    .venv/bin/python bench/seed.py                     # 1,000,000 keys on each backend
    .venv/bin/python bench/seed.py --keys 200000 --backend sqlite

Runs the real command (a subprocess of ``.venv/bin/meshkeys``, stdout not a terminal, so no
progress bar) against a throwaway PostgreSQL 15 as the app's runtime role (tests/pgserver.py)
and against a fresh SQLite file, then checks the project's counters, the one ``keys.seeded``
event, and that a sample of the secrets decrypts. Prints seconds, keys/s and the load average.

Target (exit 1 on a miss): 1,000,000 keys in under 30 s on each backend; with ``--keys`` other
than 1,000,000 the target scales linearly.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("MESHKEYS_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())

from sqlmodel import select  # noqa: E402

from meshkeys import migrations  # noqa: E402
from meshkeys.db import make_engine  # noqa: E402
from meshkeys.models import AuditEvent, Project, SignatureKey  # noqa: E402
from meshkeys.services.keys import decrypt_secret  # noqa: E402
from tests.helpers import units  # noqa: E402
from tests.pgserver import pg_server  # noqa: E402

TARGET_SECONDS_PER_MILLION = 30.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def seed_and_check(url: str, keys: int) -> float:
    env = {**os.environ, "MESHKEYS_DATABASE_URL": url}
    began = time.perf_counter()
    out = subprocess.run(
        [str(ROOT / ".venv/bin/meshkeys"), "seed", "--keys", str(keys), "--project", "Bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - began
    assert "seeding keys" not in out.stderr, "a progress bar although stdout is not a terminal"
    engine = make_engine(url)
    with units(engine)(system=True) as uow:
        project = uow.session.exec(select(Project).where(Project.name == "Bench")).one()
        assert project.key_count == keys, project.key_count
        sample = uow.session.exec(
            select(SignatureKey).where(SignatureKey.project_id == project.id).limit(200)
        ).all()
        assert all(decrypt_secret(r).startswith("whsec_") for r in sample)
        events = uow.session.exec(
            select(AuditEvent).where(
                AuditEvent.project_id == project.id, AuditEvent.action == "keys.seeded"
            )
        ).all()
        assert len(events) == 1 and events[0].details["count"] == keys, events
        uow.rollback()
    engine.dispose()
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("both", "postgres", "sqlite"), default="both")
    args = parser.parse_args()
    target = TARGET_SECONDS_PER_MILLION * args.keys / 1_000_000
    results: dict[str, float] = {}
    if args.backend in ("both", "postgres"):
        with pg_server() as pg:
            migrations.upgrade(pg.owner_url, runtime_role=pg.runtime_role)
            print(f"postgres: seeding {args.keys:,} keys (load {load()})", flush=True)
            results["postgres"] = seed_and_check(pg.app_url, args.keys)
    if args.backend in ("both", "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/seed.db"
            migrations.upgrade(url)
            print(f"sqlite: seeding {args.keys:,} keys (load {load()})", flush=True)
            results["sqlite"] = seed_and_check(url, args.keys)
    missed = 0
    for backend, took in results.items():
        ok = took < target
        missed += not ok
        print(
            f"{'ok  ' if ok else 'MISS'} seed {args.keys:,} keys on {backend}: {took:.1f} s "
            f"({args.keys / took:,.0f} keys/s; target < {target:.0f} s, "
            f"{took / target:.2f}x of it) load {load()}"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
