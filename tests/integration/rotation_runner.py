"""One scheduler process for tests/integration/test_rotation_scheduler_pg.py.

``python -m tests.integration.rotation_runner GO_FILE``: configured by the environment like the
app (MESHKEYS_DATABASE_URL, MESHKEYS_MASTER_KEY, MESHKEYS_ROTATION_INTERVAL_SECONDS,
MESHKEYS_CLOCK_OFFSET_SECONDS), it prints "ready", waits until GO_FILE exists (so that two
processes start together), then runs the app's own scheduler task,
``rotation_policy.run_in_background``, until it is killed. Batches of 5 keys, so two
processes interleave over a few hundred keys. Every committed audit event is logged on stderr.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

from meshkeys import db, logs
from meshkeys.services import rotation_policy


def main() -> None:
    go = Path(sys.argv[1])
    logs.configure()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    rotation_policy.BATCH = 5
    db.get_engine().connect().close()  # connected before the start signal
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.01)
    asyncio.run(rotation_policy.run_in_background())


if __name__ == "__main__":
    main()
