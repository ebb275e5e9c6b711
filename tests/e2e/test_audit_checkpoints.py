"""The app as served writes signed audit checkpoints when MESHKEYS_AUDIT_CHECKPOINT_DIR is set."""

from __future__ import annotations

import time

import pytest

from meshkeys.crypto.masterkey import get_keyring
from meshkeys.services import checkpoints, projects
from tests.e2e.support import make_user
from tests.helpers import call


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("anchors")


@pytest.fixture(scope="module")
def app(tmp_path_factory, checkpoint_dir):
    from tests.e2e.support import serve

    extra = {"MESHKEYS_AUDIT_CHECKPOINT_DIR": str(checkpoint_dir)}
    with serve(tmp_path_factory.mktemp("app"), extra_env=extra) as running:
        yield running


def test_the_running_app_writes_a_checkpoint_that_verifies(app, checkpoint_dir):
    deadline = time.monotonic() + 60
    while not list(checkpoint_dir.glob("checkpoint-*.json")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(list(checkpoint_dir.glob("checkpoint-*.json"))) == 1, app.log_tail()
    owner = make_user("anchor-owner@example.com")
    call(projects.create_project, owner, name="Anchored")
    verdict, _path = call(
        checkpoints.verify_against, system=True, directory=checkpoint_dir, keyring=get_keyring()
    )
    assert verdict.broken is None
