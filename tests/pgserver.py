"""A throwaway PostgreSQL for tests.

    from tests.pgserver import pg_server

    with pg_server() as pg:
        pg.app_url    # postgresql+psycopg://meshkeys_app@127.0.0.1:PORT/meshkeys   (runtime)
        pg.owner_url  # postgresql+psycopg://meshkeys_owner@127.0.0.1:PORT/meshkeys (owner)
        pg.admin_url  # postgresql+psycopg://postgres@127.0.0.1:PORT/meshkeys       (superuser)

Two modes:

- ``MESHKEYS_TEST_DATABASE_URL`` set (any ``postgresql[+driver]://`` URL of a role that may create
  roles and databases): a fresh database ``meshkeys_test_<random>`` owned by a fresh role
  ``meshkeys_test_<random>``, a runtime group role ``meshkeys_test_<random>_runtime`` and its
  login member ``meshkeys_test_<random>_app`` are created there, and all dropped at exit.
- Otherwise: a new cluster is ``initdb``-ed from the local server binaries
  (``/usr/lib/postgresql/15/bin``, or ``MESHKEYS_PG_BINDIR``) in a temporary directory, started on a
  free port on 127.0.0.1 with durability switched off, and stopped and deleted at exit.

The roles are those of a production install (docs/SECURITY.md): the owner role owns the database,
and so the tables its migrations create; the runtime role ``meshkeys_runtime`` (NOLOGIN) receives
the app's grants from ``meshkeys db upgrade``; the app logs in as ``meshkeys_app``, a member of it
that owns nothing. None is a superuser or has BYPASSRLS, which would bypass row-level security.
Migrate with ``owner_url`` and ``runtime_role``; connect the app with ``app_url``. A fourth role,
``meshkeys_tests`` (``driver_url``), exists for the fixtures only: NOINHERIT, so it has no
privilege of its own, and a member of the app and owner roles, so a test's one connection runs
as the app (``SET ROLE``) and can switch to the owner to play an attacker. ``admin_url``
points at the same database as a superuser (local mode) or as the role from
``MESHKEYS_TEST_DATABASE_URL``.

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
OWNER_ROLE = "meshkeys_owner"
RUNTIME_ROLE = "meshkeys_runtime"
DRIVER_ROLE = "meshkeys_tests"
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

    app_url: str  # the app's connection: the login member of the runtime role
    owner_url: str  # migrations: the role that owns the database and its tables
    # The test session's login (tests/backends.py): no privileges of its own (NOINHERIT), it
    # may SET ROLE to the app role, as the fixtures do, and to the owner, as an attack does.
    driver_url: str
    admin_url: str
    database: str
    app_role: str
    owner_role: str
    runtime_role: str  # the role `meshkeys db upgrade` grants to (app_role is a member)
    host: str
    port: int
    external: bool
    # Local mode only: how to stop and start the server again (a fault, in tests/cluster).
    control: tuple[Path, Path, Path, str | None] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )  # (bindir, datadir, logfile, OS user to run as)

    def stop(self) -> None:
        """Stop the local server (fast shutdown: connections are cut, as in a failover)."""
        bindir, datadir, _log, _user = self._control()
        self._pg_ctl([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"])

    def start(self) -> None:
        """Start the local server again on the same port, data intact."""
        bindir, datadir, log, _user = self._control()
        self._pg_ctl(
            [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(log), "-w", "-t", "60", "start"]
        )

    def _control(self) -> tuple[Path, Path, Path, str | None]:
        if self.control is None:
            raise PgServerError(f"{EXTERNAL_URL_ENV} names a shared server: not stopping it")
        return self.control

    def _pg_ctl(self, argv: list[str]) -> None:
        _bindir, datadir, log, user = self._control()
        run_as = pwd.getpwnam(user) if user else None
        _run_pg(run_as, argv, cwd=datadir.parent, what=argv[-1], logfile=log)

    @property
    def app_dsn(self) -> str:
        """``app_url`` as a libpq URI, for ``psycopg.connect``."""
        return to_libpq_uri(self.app_url)

    @property
    def owner_dsn(self) -> str:
        """``owner_url`` as a libpq URI, for ``psycopg.connect``."""
        return to_libpq_uri(self.owner_url)

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
    """Yield a fresh PostgreSQL database with an owner and a runtime role, neither a superuser;
    clean everything up at exit.

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
    owner = f"meshkeys_test_{suffix}"
    runtime = f"{owner}_runtime"
    app = f"{owner}_app"
    driver = f"{owner}_tests"
    owner_password = secrets.token_urlsafe(24)
    app_password = secrets.token_urlsafe(24)
    driver_password = secrets.token_urlsafe(24)

    try:
        admin = psycopg.connect(admin_uri, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise PgServerError(
            f"cannot connect to {EXTERNAL_URL_ENV}={_redact(url)}: {exc}".strip()
        ) from exc

    created_roles: list[str] = []
    created_db = False
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
                for role, statement in (
                    (owner, _create_role(owner, login=True, password=owner_password)),
                    (runtime, _create_role(runtime, login=False)),
                    (
                        app,
                        _create_role(app, login=True, password=app_password, member_of=(runtime,)),
                    ),
                    (
                        driver,
                        _create_role(
                            driver,
                            login=True,
                            password=driver_password,
                            member_of=(app, owner),
                            inherit=False,
                        ),
                    ),
                ):
                    admin.execute(statement)
                    created_roles.append(role)
                if not is_super:
                    # CREATE DATABASE ... OWNER needs membership in the owner role.
                    admin.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(owner)))
                admin.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(owner)
                    )
                )
                created_db = True
            except psycopg.Error as exc:
                raise PgServerError(
                    f"cannot create test roles and a database with {EXTERNAL_URL_ENV}="
                    f"{_redact(url)}: {exc}".strip()
                ) from exc

            parts = urlsplit(admin_uri)
            host = parts.hostname or "localhost"
            port = parts.port or 5432
            in_database = _replace_path(admin_uri, database)
            yield PgServer(
                app_url=to_sqlalchemy_url(_replace_userinfo(in_database, app, app_password)),
                owner_url=to_sqlalchemy_url(_replace_userinfo(in_database, owner, owner_password)),
                driver_url=to_sqlalchemy_url(
                    _replace_userinfo(in_database, driver, driver_password)
                ),
                admin_url=to_sqlalchemy_url(in_database),
                database=database,
                app_role=app,
                owner_role=owner,
                runtime_role=runtime,
                host=host,
                port=port,
                external=True,
            )
    finally:
        if created_roles or created_db:
            _drop_external(admin_uri, database if created_db else None, created_roles)


def _create_role(
    role: str,
    *,
    login: bool,
    password: str | None = None,
    member_of: tuple[str, ...] = (),
    inherit: bool = True,
) -> sql.Composed:
    """A plain role: no superuser, no BYPASSRLS, cannot create roles or databases."""
    parts = [sql.SQL("CREATE ROLE {}").format(sql.Identifier(role))]
    parts.append(sql.SQL("LOGIN" if login else "NOLOGIN"))
    if password is not None:
        parts.append(sql.SQL("PASSWORD {}").format(sql.Literal(password)))
    parts.append(sql.SQL("NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"))
    parts.append(sql.SQL("INHERIT" if inherit else "NOINHERIT"))
    if member_of:
        roles = sql.SQL(", ").join(sql.Identifier(r) for r in member_of)
        parts.append(sql.SQL("IN ROLE {}").format(roles))
    return sql.SQL(" ").join(parts)


def _drop_external(admin_uri: str, database: str | None, roles: list[str]) -> None:
    with psycopg.connect(admin_uri, autocommit=True, connect_timeout=10) as admin:
        if database:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
        for role in reversed(roles):
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
            admin.execute(_create_role(OWNER_ROLE, login=True))
            admin.execute(_create_role(RUNTIME_ROLE, login=False))
            admin.execute(_create_role(APP_ROLE, login=True, member_of=(RUNTIME_ROLE,)))
            admin.execute(
                _create_role(
                    DRIVER_ROLE, login=True, member_of=(APP_ROLE, OWNER_ROLE), inherit=False
                )
            )
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(APP_DATABASE), sql.Identifier(OWNER_ROLE)
                )
            )

        where = f"127.0.0.1:{port}/{APP_DATABASE}"
        yield PgServer(
            app_url=f"postgresql+psycopg://{APP_ROLE}@{where}",
            owner_url=f"postgresql+psycopg://{OWNER_ROLE}@{where}",
            driver_url=f"postgresql+psycopg://{DRIVER_ROLE}@{where}",
            admin_url=f"postgresql+psycopg://{ADMIN_ROLE}@{where}",
            database=APP_DATABASE,
            app_role=APP_ROLE,
            owner_role=OWNER_ROLE,
            runtime_role=RUNTIME_ROLE,
            host="127.0.0.1",
            port=port,
            external=False,
            control=(bindir, datadir, logfile, run_as.pw_name if run_as else None),
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
