"""Schemathesis against /openapi.json of the running API: no 5xx, every answer as documented.

The API runs as users run it (a real ASGI server, uvicorn, over the same ``create_api()`` that
``rx.App(api_transformer=mount_api)`` mounts), on a free port, with a fresh SQLite database seeded
through the CLI. It does not use the e2e ring's shared Reflex server: seeding a user there would
end the first-run setup that the UI tests expect. Bounded: ``MAX_EXAMPLES`` per operation.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from meshkeys.api.app import create_api
from meshkeys.config import reset_settings
from tests.e2e.apprunner import REPO_ROOT, free_port, random_master_key, stop_process_group

MAX_EXAMPLES = 25
STARTUP_TIMEOUT = 60


@dataclass
class ApiServer:
    url: str
    token: str
    project_id: str
    key_id: str


def _cli(env: dict[str, str], *args: str, input: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "meshkeys.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"meshkeys {' '.join(args)}: {done.stderr}"
    return done.stdout


def _wait_for_health(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"the API did not answer /health within {STARTUP_TIMEOUT} s:\n"
                f"{log.read_text()[-4000:]}"
            )
        time.sleep(0.2)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory) -> Iterator[ApiServer]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    env = {
        **os.environ,
        "MESHKEYS_DATABASE_URL": f"sqlite:///{tmp}/api.db",
        "MESHKEYS_MASTER_KEY": random_master_key(),
        "MESHKEYS_ENV": "development",
    }
    env.pop("MESHKEYS_MASTER_KEYS", None)
    email = "fuzz@example.com"
    _cli(env, "db", "upgrade")
    _cli(env, "user", "create", email, "--password-stdin", input="correct-horse-battery\n")
    project_id = _cli(env, "project", "create", "Fuzzing", "--owner", email).strip()
    token = _cli(env, "token", "create", "--user", email, "--name", "schemathesis").splitlines()[0]
    key = json.loads(
        _cli(
            env,
            "keys",
            "generate",
            "--project",
            project_id,
            "--name",
            "fuzz",
            "--user",
            email,
            "--json",
        )
    )
    port = free_port()
    log = tmp / "uvicorn.log"
    with log.open("wb") as out:
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
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, process, log)
        yield ApiServer(url=url, token=token, project_id=project_id, key_id=key["id"])
    finally:
        stop_process_group(process)


# The schema is built in-process at collection time (no database needed), so pytest gets one
# test per operation; the first test checks that the running server publishes the same one.
SPEC = create_api().openapi()
reset_settings()  # building the app read the settings: leave no cache behind for other tests
schema = schemathesis.openapi.from_dict(SPEC)
_turn = itertools.count()


def test_the_running_server_publishes_the_schema_under_test(api_server: ApiServer):
    with urllib.request.urlopen(f"{api_server.url}/openapi.json", timeout=10) as answer:  # noqa: S310
        assert json.loads(answer.read()) == json.loads(json.dumps(SPEC))


def _point_at_real_data(case, server: ApiServer) -> None:
    """Every other case: swap generated (valid) UUIDs for the seeded project and key.

    Random UUIDs only ever reach the 404 branch; the real ones reach the handlers' other paths.
    """
    if next(_turn) % 2:
        return

    def swap(container: dict | None, name: str, value: str) -> None:
        if isinstance(container, dict) and isinstance(container.get(name), str):
            try:
                uuid.UUID(container[name])
            except ValueError:
                return
            container[name] = value

    swap(case.query, "project_id", server.project_id)
    swap(case.body if isinstance(case.body, dict) else None, "project_id", server.project_id)
    swap(case.path_parameters, "key_id", server.key_id)


def _call_and_validate(case, api_server: ApiServer) -> None:
    _point_at_real_data(case, api_server)
    case.call_and_validate(
        base_url=api_server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {api_server.token}"},
        # Schema-valid input may still break a rule (a blank name, an unknown cursor, since after
        # until) and /webhooks/verify answers 400 to a bad signature by contract: those 400s are
        # right, so "schema-valid requests must be accepted" is the one check left out.
        excluded_checks=[positive_data_acceptance],
    )


fuzz = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@fuzz
def test_every_operation_answers_as_documented(case, api_server: ApiServer):
    _call_and_validate(case, api_server)
