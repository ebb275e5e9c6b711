"""The cluster ring: two app servers (separate ``reflex run --env prod`` processes, separate
ports) on one PostgreSQL database and one Redis, as a team outgrowing one process runs meshkeys.

- ``cluster`` (session): a fresh database on the throwaway PostgreSQL (tests/pgserver.py),
  migrated by the owner role through the first server's start (``meshkeys db upgrade`` with
  ``MESHKEYS_MIGRATION_DATABASE_URL``), both servers connected as the runtime role, sharing a
  master key, a throwaway redis-server (tests/redisserver.py) and an audit checkpoint folder,
  in production mode, trusting 127.0.0.1 as their proxy. One granian worker each: two cores.
  This process is pointed at the same database (runtime role) and master key, so tests seed
  and check through the services.
- ``proxy`` (tests/cluster/tlsproxy.py): nginx terminating TLS in front of both servers.

Started once per ring (~2 x 5-20 s): every module reuses them. A test that kills a server
(``test_zz_faults.py``) runs last.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from meshkeys import db
from tests.backends import Database, create_database, drop_database
from tests.cluster.tlsproxy import Proxy, TlsFiles, free_port, make_certificates, run_nginx
from tests.e2e.apprunner import RunningApp, random_master_key, run_app
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import reset_caches
from tests.pgserver import PgServer, to_libpq_uri
from tests.redisserver import RedisServer

# Requests from this address (the test process, as the proxy would) may claim HTTPS and a
# client address: the servers list it in MESHKEYS_TRUSTED_PROXIES.
PROXY_ADDRESS = "127.0.0.1"
_KNOBS = ("MESHKEYS_DATABASE_URL", "MESHKEYS_MASTER_KEY", "MESHKEYS_RUNTIME_ROLE", "MESHKEYS_ENV")


@dataclass
class Cluster:
    a: RunningApp
    b: RunningApp
    pg: PgServer
    database: Database
    redis: RedisServer
    checkpoints: Path
    master_key: str

    @property
    def servers(self) -> tuple[RunningApp, RunningApp]:
        return self.a, self.b

    @property
    def superuser_dsn(self) -> str:
        """The cluster's database as the superuser: for checks that must see every row."""
        from sqlalchemy.engine import make_url

        name = make_url(self.database.app_url).database
        return to_libpq_uri(
            make_url(self.pg.admin_url).set(database=name).render_as_string(hide_password=False)
        )

    def client(self, app: RunningApp, **headers: str) -> httpx.Client:
        """An HTTP client of one server, as the TLS proxy forwards a browser's request."""
        forwarded = {"X-Forwarded-Proto": "https", **headers}
        return httpx.Client(base_url=app.url, headers=forwarded, timeout=30)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def proxy_port() -> int:
    """Chosen before the servers start: their pages open the websocket through the proxy."""
    return free_port()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict, tls: TlsFiles) -> dict:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: the cluster ring drives Chromium. Install Debian's package "
            "(`apt-get install chromium`), or point MESHKEYS_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    # Trust exactly the test proxy's key (Playwright's ignore_https_errors stays False).
    pin = f"--ignore-certificate-errors-spki-list={tls.spki_sha256}"
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [*CHROMIUM_ARGS, pin],
    }


@pytest.fixture(scope="session")
def cluster(
    pg: PgServer,
    redis_srv: RedisServer,
    proxy_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    name = f"meshkeys_cluster_{secrets.token_hex(4)}"
    database = create_database(pg, name)
    master_key = random_master_key()
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    env = {
        "MESHKEYS_ENV": "production",
        "MESHKEYS_MIGRATION_DATABASE_URL": database.owner_url,
        "MESHKEYS_RUNTIME_ROLE": pg.runtime_role,
        "REFLEX_REDIS_URL": redis_srv.url,
        "GRANIAN_WORKERS": "1",
        "MESHKEYS_TRUSTED_PROXIES": PROXY_ADDRESS,
        "MESHKEYS_AUDIT_CHECKPOINT_DIR": str(checkpoints),
        # The public address (the TLS proxy): pages open their websocket there.
        "REFLEX_API_URL": f"https://127.0.0.1:{proxy_port}",
    }
    saved = {k: os.environ.get(k) for k in _KNOBS}
    common = {"database_url": database.app_url, "master_key": master_key, "extra_env": env}
    try:
        with (
            run_app(tmp_path_factory.mktemp("a"), **common) as a,
            run_app(tmp_path_factory.mktemp("b"), migrate=False, **common) as b,
        ):
            os.environ.update(
                MESHKEYS_DATABASE_URL=database.app_url,
                MESHKEYS_MASTER_KEY=master_key,
                MESHKEYS_RUNTIME_ROLE=pg.runtime_role,
            )
            os.environ.pop("MESHKEYS_ENV", None)
            reset_caches()
            yield Cluster(a, b, pg, database, redis_srv, checkpoints, master_key)
    finally:
        db.get_engine().dispose()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_caches()
        drop_database(pg, name)


@pytest.fixture(scope="session")
def proxy(
    cluster: Cluster, tls: TlsFiles, proxy_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    """nginx (deploy/nginx.conf) terminating TLS in front of both servers."""
    upstreams = [app.url.removeprefix("http://") for app in cluster.servers]
    with run_nginx(tmp_path_factory.mktemp("nginx"), tls, proxy_port, upstreams) as running:
        yield running


def make_admin(tag: str) -> tuple[str, uuid.UUID, str]:
    """A user with a project of their own and an API token: (email, project id, token)."""
    from meshkeys.services import auth, projects
    from tests.helpers import PASSWORD, call

    email = f"{tag}-{secrets.token_hex(3)}@example.com"
    user = call(auth.create_user, email=email, password=PASSWORD)
    actor = auth.Actor(user_id=user.id, email=user.email)
    project = call(projects.create_project, actor, name=f"{tag} {secrets.token_hex(2)}")
    token = call(auth.create_api_token, actor, name="cluster").token
    return email, project.id, token


def check_keys_against_log(cluster: Cluster, project_id: uuid.UUID, acknowledged: set[str]):
    """What the database holds for ``project_id``: every acknowledged key, each key with exactly
    one ``key.generated`` event, the project's counters equal to its rows. Returns
    (keys in the database, keys committed but never acknowledged)."""
    import psycopg

    with psycopg.connect(cluster.superuser_dsn) as conn:
        keys = {
            str(k)
            for (k,) in conn.execute(
                "SELECT id FROM signature_keys WHERE project_id = %s", (project_id,)
            )
        }
        events = [
            str(k)
            for (k,) in conn.execute(
                "SELECT key_id FROM audit_events WHERE project_id = %s "
                "AND action = 'key.generated'",
                (project_id,),
            )
        ]
        key_count, revoked_count, revoked = conn.execute(
            "SELECT key_count, revoked_count, (SELECT count(*) FROM signature_keys "
            "WHERE project_id = p.id AND status = 'revoked') FROM projects p WHERE id = %s",
            (project_id,),
        ).fetchone()
    assert acknowledged <= keys, f"acknowledged but lost: {acknowledged - keys}"
    assert sorted(events) == sorted(keys), "a key without its event, or an event twice"
    assert (key_count, revoked_count) == (len(keys), revoked)
    return keys, keys - acknowledged
