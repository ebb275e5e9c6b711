"""Several workers share a checkpoint folder: one checkpoint an interval (advisory lock)."""

from __future__ import annotations

import threading
import time

from meshkeys.crypto.masterkey import get_keyring
from meshkeys.services import checkpoints
from meshkeys.services.uow import UnitOfWork


def test_a_second_worker_waits_for_the_first_and_writes_none(committed_db, tmp_path):
    keyring = get_keyring()
    results = []
    first = UnitOfWork(system=True, bind=committed_db)
    first.serialize("meshkeys.audit.checkpoint")  # worker one is writing

    def second_worker():
        with UnitOfWork(system=True, bind=committed_db) as uow:
            results.append(checkpoints.write_if_due(uow, directory=tmp_path, keyring=keyring))

    thread = threading.Thread(target=second_worker)
    thread.start()
    time.sleep(0.5)
    assert results == []  # blocked on the lock
    written = checkpoints.write(first, directory=tmp_path, keyring=keyring)
    first.close()
    thread.join(timeout=10)
    assert results == [None]
    assert list(tmp_path.glob("checkpoint-*.json")) == [written]
