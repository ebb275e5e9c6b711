"""How long `meshkeys audit verify` takes on a large audit log (PostgreSQL).

    .venv/bin/python bench/audit_verify.py                        # 1,000,000 events, 100 chains
    .venv/bin/python bench/audit_verify.py --events 200000 --chains 10 --repeat 3

Starts a throwaway PostgreSQL 15 (tests/pgserver.py), migrates it, seeds ``--events`` audit
events spread over ``--chains`` chains with real keyed hashes (HMAC-SHA256 under the audit key
of a random master key, computed as ``audit.record`` would), loaded with COPY as the superuser
(COPY FROM refuses tables under row-level security for other roles), then times
``operations.verify_all_chains`` as the app's role, as the CLI runs it: every event read,
re-hashed and linked, every head compared. Prints seconds and events per second.
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

import psycopg  # noqa: E402

from meshkeys import migrations  # noqa: E402
from meshkeys.crypto import audit_keys  # noqa: E402
from meshkeys.crypto.masterkey import get_keyring  # noqa: E402
from meshkeys.db import make_engine  # noqa: E402
from meshkeys.services import audit, operations  # noqa: E402
from tests.helpers import audit_row, call  # noqa: E402
from tests.pgserver import pg_server  # noqa: E402

COLUMNS = (*audit.HASHED_COLUMNS, "hash", "key_version")


def seed(admin_dsn: str, *, events: int, chains: int) -> None:
    keyring = get_keyring()
    version = keyring.current_version
    macer = audit_keys.chain_macer(keyring, version)
    per_chain = events // chains
    began = time.perf_counter()
    with psycopg.connect(admin_dsn) as conn:
        heads = []
        with conn.cursor().copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for c in range(chains):
                chain = uuid.uuid4()
                prev = audit.GENESIS
                for seq in range(1, per_chain + 1):
                    row = audit_row(
                        chain,
                        seq,
                        prev,
                        project_id=chain,
                        actor_email="bench@example.com",
                        action="key.generated",
                        key_id=uuid.uuid4(),
                        key_name=f"key-{seq}",
                        new_status="active",
                        user_agent="bench",
                    )
                    mac = macer.copy()
                    mac.update(audit.canonical(row))
                    prev = mac.hexdigest()
                    values = [getattr(row, name) for name in audit.HASHED_COLUMNS]
                    values[audit.HASHED_COLUMNS.index("details")] = json.dumps(row.details)
                    copy.write_row([*values, prev, version])
                heads.append((chain, per_chain, prev))
                print(f"  seeded chain {c + 1}/{chains}", file=sys.stderr, end="\r")
        conn.cursor().executemany(
            "INSERT INTO audit_heads (chain_id, seq, head_hash) VALUES (%s, %s, %s)", heads
        )
        conn.execute("ANALYZE audit_events")
    print(f"seeded {per_chain * chains:,} events in {time.perf_counter() - began:.1f} s")


TARGET_SECONDS_PER_MILLION = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with pg_server() as pg:
        migrations.upgrade(pg.owner_url, runtime_role=pg.runtime_role)
        seed(pg.admin_dsn, events=args.events, chains=args.chains)
        engine = make_engine(pg.app_url)
        target = TARGET_SECONDS_PER_MILLION * args.events / 1_000_000
        worst = 0.0
        for n in range(args.repeat):
            began = time.perf_counter()
            verdict = call(
                operations.verify_all_chains, system=True, bind=engine, keyring=get_keyring()
            )
            took = time.perf_counter() - began
            assert verdict.broken is None, verdict.broken
            print(
                f"run {n + 1}: verified {verdict.events:,} events in {verdict.chains} chains "
                f"in {took:.1f} s ({verdict.events / took:,.0f} events/s), "
                f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
            )
            worst = max(worst, took)
        engine.dispose()
    ok = worst < target
    print(
        f"{'ok  ' if ok else 'MISS'} audit verify {args.events:,} events: {worst:.1f} s "
        f"(target < {target:.0f} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
