"""Peak memory of the API while it streams `GET /audit/export`: 10,000 against 1,000,000 events.

    .venv/bin/python bench/audit_export.py                     # 10,000 and 1,000,000 events
    .venv/bin/python bench/audit_export.py --sizes 10000 200000

Starts a throwaway PostgreSQL 15 (tests/pgserver.py), migrates it, makes one owner with an API
token and one project per size through the services, and loads each project's events with COPY
as the superuser (COPY FROM is refused under row-level security; the events need no valid
chain to be exported). Then, per size, a FRESH API server (``uvicorn --factory
meshkeys.api.app:create_api``, as bench/api_latency.py starts it) exports the project's log as
JSON Lines over HTTP; the script reads the stream to the end, counts the lines, and reads the
server's peak resident memory (``VmHWM`` of /proc/PID/status) once the answer has ended.
Target (exit 1 on a miss): the peak at the largest size within 1.2x of the smallest.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("MESHKEYS_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.api_latency import start_api  # noqa: E402
from meshkeys import migrations  # noqa: E402
from meshkeys.db import make_engine  # noqa: E402
from meshkeys.services import audit, auth, projects  # noqa: E402
from meshkeys.services.uow import UnitOfWork  # noqa: E402
from tests.helpers import audit_row  # noqa: E402
from tests.pgserver import pg_server  # noqa: E402

COLUMNS = (*audit.HASHED_COLUMNS, "hash", "key_version")
TARGET_RATIO = 1.2


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def seed_events(admin_dsn: str, project_id: uuid.UUID, count: int) -> None:
    """``count`` more events in the project's chain, after its own (hashes random: the export
    does not check them; the chain id is the project's, which row-level security requires)."""
    chain = project_id
    with psycopg.connect(admin_dsn) as conn:
        (head,) = conn.execute(
            "SELECT seq FROM audit_heads WHERE chain_id = %s", (chain,)
        ).fetchone() or (0,)
        with conn.cursor().copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for seq in range(head + 1, head + count + 1):
                row = audit_row(
                    chain,
                    seq,
                    os.urandom(32).hex(),
                    project_id=project_id,
                    actor_email="bench@example.com",
                    action="key.generated",
                    key_id=uuid.uuid4(),
                    key_name=f"key-{seq}",
                    new_status="active",
                    user_agent="bench",
                )
                values = [getattr(row, name) for name in audit.HASHED_COLUMNS]
                values[audit.HASHED_COLUMNS.index("details")] = json.dumps(row.details)
                copy.write_row([*values, os.urandom(32).hex(), 1])
        conn.execute("UPDATE audit_heads SET seq = %s WHERE chain_id = %s", (head + count, chain))
        conn.execute("ANALYZE audit_events")


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def export(url: str, token: str, project_id: uuid.UUID) -> tuple[int, int, float]:
    """Lines, bytes and seconds of one streamed export."""
    lines = size = 0
    began = time.perf_counter()
    with httpx.stream(
        "GET",
        f"{url}/audit/export",
        params={"project_id": str(project_id), "format": "jsonl"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=600,
    ) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    return lines, size, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    args = parser.parse_args()
    print(f"bench/audit_export.py, load {load()}", flush=True)
    with pg_server() as pg:
        migrations.upgrade(pg.owner_url, runtime_role=pg.runtime_role)
        engine = make_engine(pg.app_url)
        with UnitOfWork(system=True, bind=engine) as uow:
            owner = auth.find_or_create_user(
                uow, email="bench@example.com", password="correct-horse-battery"
            )
        ids = {}
        for size in args.sizes:
            with UnitOfWork(owner, bind=engine) as uow:
                ids[size] = projects.create_project(uow, name=f"export {size}").id
        with UnitOfWork(owner, bind=engine) as uow:
            token = auth.create_api_token(uow, name="bench").token
        engine.dispose()
        for size in args.sizes:
            began = time.perf_counter()
            seed_events(pg.admin_dsn, ids[size], size)
            print(f"seeded {size:,} events in {time.perf_counter() - began:.1f} s", flush=True)
        peaks = {}
        for size in args.sizes:
            process, url = start_api(pg.app_url)
            try:
                before = peak_rss_kib(process.pid)
                lines, size_bytes, seconds = export(url, token, ids[size])
                peaks[size] = peak_rss_kib(process.pid)
            finally:
                process.terminate()
                process.wait(timeout=30)
            assert lines >= size, (lines, size)  # every seeded event, plus the project's own
            print(
                f"{size:>10,} events: {lines:,} lines, {size_bytes / 2**20:,.1f} MiB in "
                f"{seconds:.1f} s ({lines / seconds:,.0f} lines/s); server peak RSS "
                f"{peaks[size] / 1024:,.1f} MiB (after start {before / 1024:,.1f} MiB), "
                f"load {load()}",
                flush=True,
            )
    small, large = min(args.sizes), max(args.sizes)
    ratio = peaks[large] / peaks[small]
    ok = ratio <= TARGET_RATIO
    print(
        f"{'ok  ' if ok else 'MISS'} peak RSS {large:,} / {small:,} events: {ratio:.2f} "
        f"(target <= {TARGET_RATIO})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
