"""A throwaway PostgreSQL for tests.

    from tests.pgserver import pg_server

    with pg_server() as pg:
        pg.app_url    # postgresql+psycopg://meshkeys_app@127.0.0.1:PORT/meshkeys (no superuser)
        pg.admin_url  # postgresql+psycopg://postgres@127.0.0.1:PORT/meshkeys       (superuser)

Two modes:

- ``MESHKEYS_TEST_DATABASE_URL`` set (any ``postgresql[+driver]://`` URL of a role that may create
  roles and databases): a fresh database ``meshkeys_test_<random>`` owned by a fresh role
  ``meshkeys_test_<random>`` is created there and both are dropped at exit.
- Otherwise: a new cluster is ``initdb``-ed from the local server binaries
  (``/usr/lib/postgresql/15/bin``, or ``MESHKEYS_PG_BINDIR``) in a temporary directory, started on a
  free port on 127.0.0.1 with durability switched off, and stopped and deleted at exit.

Why the application role is not a superuser: the app relies on row-level security with FORCE ROW
LEVEL SECURITY, which superusers (and BYPASSRLS roles) bypass. Tests must connect as a plain role
that owns the database and therefore the tables its migrations create. ``admin_url`` points at the
same database as a superuser (local mode) or as the role from ``MESHKEYS_TEST_DATABASE_URL``.

Pure Python plus psycopg; no meshkeys imports, so it can be used before the app imports cleanly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

EXTERNAL_URL_ENV = "MESHKEYS_TEST_DATABASE_URL"
BINDIR_ENV = "MESHKEYS_PG_BINDIR"
DEFAULT_BINDIR = Path("/usr/lib/postgresql/15/bin")

APP_ROLE = "meshkeys_app"
APP_DATABASE = "meshkeys"
ADMIN_ROLE = "postgres"

_INSTALL_HINT = (
    "install the PostgreSQL server binaries (Debian: `apt-get install postgresql-15`), "
    f"or set {EXTERNAL_URL_ENV} to a PostgreSQL URL whose role may create roles and databases, "
    "e.g. postgresql+psycopg://postgres:secret@127.0.0.1:5432/postgres"
)

# Durability off: a test cluster is thrown away, speed matters more.
_FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
    "log_min_error_statement": "error",
}


class PgServerError(RuntimeError):
    """The throwaway PostgreSQL could not be provided; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class PgServer:
    """Where the throwaway database lives. URLs are SQLAlchemy URLs (postgresql+psycopg://)."""

    app_url: str
    admin_url: str
    database: str
    app_role: str
    host: str
    port: int
    external: bool

    @property
    def app_dsn(self) -> str:
        """``app_url`` as a libpq URI, for ``psycopg.connect``."""
        return to_libpq_uri(self.app_url)

    @property
    def admin_dsn(self) -> str:
        """``admin_url`` as a libpq URI, for ``psycopg.connect``."""
        return to_libpq_uri(self.admin_url)


def to_libpq_uri(url: str) -> str:
    """``postgresql+psycopg://...`` -> ``postgresql://...`` (what psycopg/libpq accept)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise PgServerError(f"not a PostgreSQL URL: {_redact(url)}")
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def to_sqlalchemy_url(url: str) -> str:
    """Any ``postgresql[+driver]://`` URL -> ``postgresql+psycopg://`` (psycopg 3 driver)."""
    parts = urlsplit(to_libpq_uri(url))
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, parts.query, ""))


@contextlib.contextmanager
def pg_server() -> Iterator[PgServer]:
    """Yield a fresh PostgreSQL database with a non-superuser owner; clean everything up at exit.

    Uses ``MESHKEYS_TEST_DATABASE_URL`` when set, else a local throwaway cluster.
    Raises ``PgServerError`` with instructions when neither is possible.
    """
    external = os.environ.get(EXTERNAL_URL_ENV, "").strip()
    if external:
        with _external_database(external) as server:
            yield server
    else:
        with _local_cluster() as server:
            yield server


# --------------------------------------------------------------------------- external server


@contextlib.contextmanager
def _external_database(url: str) -> Iterator[PgServer]:
    admin_uri = to_libpq_uri(url)
    suffix = secrets.token_hex(6)
    database = f"meshkeys_test_{suffix}"
    role = f"meshkeys_test_{suffix}"
    password = secrets.token_urlsafe(24)

    try:
        admin = psycopg.connect(admin_uri, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise PgServerError(
            f"cannot connect to {EXTERNAL_URL_ENV}={_redact(url)}: {exc}".strip()
        ) from exc

    created_role = created_db = False
    try:
        with admin:
            row = admin.execute(
                "select rolsuper, rolcreaterole, rolcreatedb from pg_roles "
                "where rolname = current_user"
            ).fetchone()
            is_super, can_create_role, can_create_db = row if row else (False, False, False)
            if not (is_super or (can_create_role and can_create_db)):
                raise PgServerError(
                    f"the role in {EXTERNAL_URL_ENV} ({_redact(url)}) cannot create roles and "
                    "databases: use a superuser, or grant it CREATEROLE and CREATEDB "
                    "(ALTER ROLE <name> CREATEROLE CREATEDB)"
                )
            try:
                admin.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOBYPASSRLS "
                        "NOCREATEDB NOCREATEROLE"
                    ).format(sql.Identifier(role), sql.Literal(password))
                )
                created_role = True
                if not is_super:
                    # CREATE DATABASE ... OWNER needs membership in the owner role.
                    admin.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))
                admin.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(role)
                    )
                )
                created_db = True
            except psycopg.Error as exc:
                raise PgServerError(
                    f"cannot create a test role and database with {EXTERNAL_URL_ENV}="
                    f"{_redact(url)}: {exc}".strip()
                ) from exc

            parts = urlsplit(admin_uri)
            host = parts.hostname or "localhost"
            port = parts.port or 5432
            admin_url = to_sqlalchemy_url(_replace_path(admin_uri, database))
            app_url = to_sqlalchemy_url(
                _replace_userinfo(_replace_path(admin_uri, database), role, password)
            )
            yield PgServer(
                app_url=app_url,
                admin_url=admin_url,
                database=database,
                app_role=role,
                host=host,
                port=port,
                external=True,
            )
    finally:
        if created_role or created_db:
            _drop_external(admin_uri, database if created_db else None, role)


def _drop_external(admin_uri: str, database: str | None, role: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True, connect_timeout=10) as admin:
        if database:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# --------------------------------------------------------------------------- local cluster


@contextlib.contextmanager
def _local_cluster() -> Iterator[PgServer]:
    bindir = Path(os.environ.get(BINDIR_ENV) or DEFAULT_BINDIR)
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (bindir / tool).is_file():
            raise PgServerError(f"{bindir / tool} not found: {_INSTALL_HINT}")

    run_as = _cluster_os_user()
    # Short path: the unix socket path must stay under ~100 bytes. As root, use /tmp itself: a
    # TMPDIR under /root would not be reachable by the postgres OS user.
    tmp_root = "/tmp" if run_as is not None else None  # noqa: S108 - mkdtemp makes it private
    base = Path(tempfile.mkdtemp(prefix="mkpg-", dir=tmp_root))
    datadir = base / "data"
    logfile = base / "server.log"
    started = False
    try:
        if run_as is not None:
            shutil.chown(base, user=run_as.pw_uid, group=run_as.pw_gid)
        _run_pg(
            run_as,
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                ADMIN_ROLE,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            cwd=base,
            what="initdb",
        )

        port = 0
        for attempt in range(3):
            port = _free_port()
            _write_settings(datadir, port=port, socket_dir=base, run_as=run_as)
            try:
                _run_pg(
                    run_as,
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(datadir),
                        "-l",
                        str(logfile),
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ],
                    cwd=base,
                    what="pg_ctl start",
                    logfile=logfile,
                )
                started = True
                break
            except PgServerError:
                # Someone may have grabbed the port between probe and bind: try another.
                if attempt == 2:
                    raise

        admin_uri = f"postgresql://{ADMIN_ROLE}@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin_uri, autocommit=True, connect_timeout=10) as admin:
            admin.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                ).format(sql.Identifier(APP_ROLE))
            )
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(APP_DATABASE), sql.Identifier(APP_ROLE)
                )
            )

        yield PgServer(
            app_url=f"postgresql+psycopg://{APP_ROLE}@127.0.0.1:{port}/{APP_DATABASE}",
            admin_url=f"postgresql+psycopg://{ADMIN_ROLE}@127.0.0.1:{port}/{APP_DATABASE}",
            database=APP_DATABASE,
            app_role=APP_ROLE,
            host="127.0.0.1",
            port=port,
            external=False,
        )
    finally:
        if started:
            with contextlib.suppress(PgServerError):
                _run_pg(
                    run_as,
                    [str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"],
                    cwd=base,
                    what="pg_ctl stop",
                )
        shutil.rmtree(base, ignore_errors=True)


def _cluster_os_user() -> pwd.struct_passwd | None:
    """The OS user to run the server as: ``postgres`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PgServerError(
            "running as root, and PostgreSQL refuses to run as root, but there is no `postgres` "
            f"OS user to run it as: {_INSTALL_HINT}"
        ) from None


def _run_pg(
    run_as: pwd.struct_passwd | None,
    argv: list[str],
    *,
    cwd: Path,
    what: str,
    logfile: Path | None = None,
) -> None:
    if run_as is not None:
        runuser = shutil.which("runuser")
        if runuser:
            argv = [runuser, "-u", run_as.pw_name, "--", *argv]
        else:
            argv = ["su", run_as.pw_name, "-s", "/bin/sh", "-c", _shell_join(argv)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        detail = (proc.stdout + proc.stderr).strip()
        if logfile is not None and logfile.exists():
            detail += "\n--- server log ---\n" + _tail(logfile)
        raise PgServerError(f"{what} failed (exit {proc.returncode}):\n{detail}")


def _write_settings(
    datadir: Path, *, port: int, socket_dir: Path, run_as: pwd.struct_passwd | None
) -> None:
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{socket_dir}'",
        **_FAST_SETTINGS,
    }
    conf = datadir / "postgresql.auto.conf"
    conf.write_text(
        "# written by tests/pgserver.py\n"
        + "".join(f"{key} = {value}\n" for key, value in settings.items())
    )
    if run_as is not None:
        os.chown(conf, run_as.pw_uid, run_as.pw_gid)
    conf.chmod(0o600)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- small helpers


def _replace_path(uri: str, database: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database), parts.query, ""))


def _replace_userinfo(uri: str, user: str, password: str) -> str:
    parts = urlsplit(uri)
    hostport = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = unquote(parts.username or "")
    hostport = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{user}:***@{hostport}", parts.path, parts.query, ""))


def _shell_join(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
