"""Start the real meshkeys app the way users start it, for end-to-end tests.

    from tests.e2e.apprunner import run_app, wait_for_hydration

    with run_app(tmp_dir) as app:        # `meshkeys db upgrade`, then `reflex run --env prod`
        page.goto(app.url)               # http://127.0.0.1:<free port>/
        wait_for_hydration(page)         # before the first click
        ...

What ``run_app`` does:

1. picks free ports (never 3000 or 8000, Reflex's defaults: the app must work on any port) and
   writes nothing into the repo: the SQLite database (``MESHKEYS_DATABASE_URL``, unless
   ``database_url=`` names another), Reflex's state dir and the server log live in ``tmp_dir``;
   ``MESHKEYS_MASTER_KEY`` is a fresh random key; no ``MESHKEYS_ALLOWED_ORIGINS``: the app accepts
   its own origin by itself. The Reflex environment is ``meshkeys/reflex_env.py``'s, as for users;
2. runs ``python -m meshkeys.cli db upgrade`` with that same environment;
3. starts, from the repo root in its own session (process group), either ``reflex run --env prod
   --single-port --frontend-port P --backend-port P --backend-host 127.0.0.1`` (frontend, websocket
   and API on one port), or with ``dev=True`` plain ``reflex run --frontend-port F --backend-port B
   --backend-host 127.0.0.1`` (development mode: hot reload, pages on F, websocket and API on B);
4. waits until the page (``GET /``) and the backend (``GET /health``) answer 200 (default timeout
   180 s; the server log tail is in the error otherwise), yields a ``RunningApp``, and at exit
   kills the whole process group.

The compiled frontend goes to a web directory of its own (``REFLEX_WEB_WORKDIR``), kept between
runs under the system temp dir and locked while in use, so e2e runs neither rebuild the ``.web/``
of a developer's ``make run`` under it nor race each other. ``MESHKEYS_E2E_WEB_DIR`` overrides it
(``MESHKEYS_E2E_WEB_DIR=.web`` uses the repo's own, exactly like ``reflex run``).
First start with an empty web dir: ~10-20 s (npm install from reflex.lock); later starts: ~4-6 s.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from meshkeys.reflex_env import reflex_environment

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
MIGRATE_ARGV: list[str] = [sys.executable, "-m", "meshkeys.cli", "db", "upgrade"]
# Reflex's default ports: the runner avoids them, so a test proves the app works on any port.
DEFAULT_PORTS = (3000, 8000)

# (migration seconds, `reflex run` seconds to the first 200) of every app started in this process:
# tests/e2e/conftest.py prints them at the end of the session.
STARTUP_TIMES: list[tuple[float, float]] = []


class AppStartError(RuntimeError):
    """The app did not come up; the message carries the command, the reason and the log tail."""


@dataclasses.dataclass
class RunningApp:
    url: str  # the page: http://127.0.0.1:P (no trailing slash)
    backend_url: str  # the websocket and the API: the same as url, except in development mode
    database_url: str
    master_key: str
    env: dict[str, str]  # the full environment the server runs with
    workdir: Path  # tmp dir holding the database, state dir and log
    log_path: Path
    process: subprocess.Popen
    startup_seconds: float = 0.0  # from `reflex run` to the first 200

    def log_tail(self, lines: int = 80) -> str:
        return _tail(self.log_path, lines)


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago, and not one of Reflex's defaults."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in DEFAULT_PORTS:
            return port


def random_master_key() -> str:
    """Base64 of 32 random bytes: a valid ``MESHKEYS_MASTER_KEY``."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def app_environment(
    *,
    database_url: str,
    master_key: str,
    states_dir: Path,
    web_dir: Path | None,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of the app under test: the caller's, minus any REFLEX_*/MESHKEYS_* knob
    that could point it at another database, port or Redis, and minus PYTEST_CURRENT_TEST (Reflex
    behaves differently when it sees it); plus the test settings and the Reflex environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REFLEX_", "MESHKEYS_", "PYTEST_", "APP_HARNESS", "__REFLEX"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["MESHKEYS_DATABASE_URL"] = database_url
    env["MESHKEYS_MASTER_KEY"] = master_key
    env["REFLEX_STATES_WORKDIR"] = str(states_dir)
    if web_dir is not None:
        env["REFLEX_WEB_WORKDIR"] = str(web_dir)
    env.update(extra_env or {})
    return reflex_environment(env, root=REPO_ROOT)


def migrate_database(env: Mapping[str, str]) -> None:
    """``meshkeys db upgrade`` with the app's environment."""
    proc = subprocess.run(
        MIGRATE_ARGV,
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise AppStartError(
            f"migration failed: {' '.join(MIGRATE_ARGV)} exited {proc.returncode}\n"
            f"{(proc.stdout + proc.stderr).strip()}"
        )


def reflex_argv(frontend_port: int, backend_port: int) -> list[str]:
    """``reflex run`` bound to 127.0.0.1: prod on one port, development mode on two."""
    reflex = VENV_BIN / "reflex"
    base = [str(reflex)] if reflex.exists() else [sys.executable, "-m", "reflex"]
    # Development mode logs at debug: only then are the dev server's reload reports in the log.
    single = frontend_port == backend_port
    mode = ["--env", "prod", "--single-port"] if single else ["--loglevel", "debug"]
    ports = ["--frontend-port", str(frontend_port), "--backend-port", str(backend_port)]
    return [*base, "run", *mode, *ports, "--backend-host", "127.0.0.1"]


@contextlib.contextmanager
def run_app(
    tmp_dir: Path,
    *,
    dev: bool = False,
    database_url: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 180.0,
    master_key: str | None = None,
    migrate: bool = True,
) -> Iterator[RunningApp]:
    """Migrate a fresh SQLite database, start the app, yield it when it answers, then stop it.

    Several app servers on one database (tests/cluster): give each the same ``database_url``
    (the runtime role), ``master_key`` and ``extra_env`` (``REFLEX_REDIS_URL``,
    ``MESHKEYS_MIGRATION_DATABASE_URL`` naming the owner), and ``migrate=False`` to all but the
    first."""
    tmp_dir = Path(tmp_dir).resolve()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    frontend_port = free_port()
    backend_port = free_port() if dev else frontend_port
    master_key = master_key or random_master_key()
    database_url = database_url or f"sqlite:///{tmp_dir / 'meshkeys-e2e.db'}"
    log_path = tmp_dir / "reflex.log"

    with _web_dir() as web_dir:
        if web_dir is not None:
            # Reflex copies assets/ into public/ but never removes one: start from an empty
            # public/, so a missing asset shows as it would on a fresh clone.
            shutil.rmtree(web_dir / "public", ignore_errors=True)
            (web_dir / "public").mkdir(parents=True)
        env = app_environment(
            database_url=database_url,
            master_key=master_key,
            states_dir=tmp_dir / "states",
            web_dir=web_dir,
            extra_env=extra_env,
        )
        migrate_started = time.monotonic()
        if migrate:
            migrate_database(env)
        migrate_seconds = time.monotonic() - migrate_started

        argv = reflex_argv(frontend_port, backend_port)
        with open(log_path, "wb") as log:
            started = time.monotonic()
            process = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # setsid: its own process group, killed as a whole
            )
            app = RunningApp(
                url=f"http://127.0.0.1:{frontend_port}",
                backend_url=f"http://127.0.0.1:{backend_port}",
                database_url=database_url,
                master_key=master_key,
                env=env,
                workdir=tmp_dir,
                log_path=log_path,
                process=process,
            )
            try:
                for url in (app.url + "/", app.backend_url + "/health"):
                    _wait_until_up(app, url, argv, deadline=started + timeout, log=log)
                app.startup_seconds = time.monotonic() - started
                STARTUP_TIMES.append((migrate_seconds, app.startup_seconds))
                yield app
            finally:
                stop_process_group(process)


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL what is left after ``grace`` seconds."""
    try:
        pgid = os.getpgid(process.pid)
    except ProcessLookupError:
        pgid = None
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    if pgid is not None:
        # Granian workers and node children share the group: make sure none outlives the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _wait_until_up(
    app: RunningApp, url: str, argv: list[str], *, deadline: float, log: IO[bytes]
) -> None:
    last_error = "no answer yet"
    while True:
        code = app.process.poll()
        if code is not None:
            log.flush()
            raise AppStartError(
                f"`{' '.join(argv)}` exited with {code} before answering on {url}\n"
                f"--- last lines of {app.log_path} ---\n{app.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        if time.monotonic() > deadline:
            log.flush()
            raise AppStartError(
                f"`{' '.join(argv)}` did not answer 200 on {url} in time (last: {last_error})\n"
                f"--- last lines of {app.log_path} ---\n{app.log_tail()}"
            )
        time.sleep(0.25)


@contextlib.contextmanager
def _web_dir() -> Iterator[Path | None]:
    """A Reflex web dir reserved for this run (see the module docstring)."""
    override = os.environ.get("MESHKEYS_E2E_WEB_DIR", "").strip()
    if override:
        path = Path(override)
        yield None if path.resolve() == (REPO_ROOT / ".web").resolve() else path.resolve()
        return
    repo_hash = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:10]
    base = Path(tempfile.gettempdir()) / f"meshkeys-e2e-{repo_hash}"
    base.mkdir(parents=True, exist_ok=True)
    for slot in range(8):
        lock_file = open(base / f"web{slot}.lock", "w")  # held (locked) until the app stops
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            continue
        try:
            yield base / f"web{slot}"
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
            lock_file.close()
        return
    raise AppStartError(f"all 8 e2e web dirs under {base} are in use by other test runs")


def _tail(path: Path, lines: int = 80) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- hydration

# Prerendered pages are visible before the websocket connects and the state hydrates: a click
# before that is lost. Every meshkeys page must therefore render this hidden marker (it costs
# nothing and makes tests deterministic):
#
#     rx.el.input(
#         id="hydrated-token",
#         type="hidden",
#         value=rx.State.router.session.client_token,   # non-empty once the state hydrated
#         custom_attrs={"data-hydrated": rx.State.is_hydrated},  # "true" after on_load too
#         read_only=True,
#     )
#
# `wait_for_hydration` waits until its value is non-empty (and, when it has `data-hydrated`, until
# that is "true": that also covers client-side navigations and on_load handlers). Pages without
# the marker fall back on HYDRATION_PROBE_JS, an init script (installed by `new_context` in
# tests/e2e/support.py) that watches the Reflex websocket for the hydrated flag.
HYDRATION_MARKER_ID = "hydrated-token"

HYDRATION_PROBE_JS = r"""
(() => {
  if (window.__meshkeysProbe) return;
  const probe = { sockets: 0, open: false, hydrated: false };
  window.__meshkeysProbe = probe;
  const Native = window.WebSocket;
  if (typeof Native !== "function") return;
  // Reflex sends the state delta as JSON; the root state's hydrated flag is this key.
  const FLAG = /"is_hydrated_rx_state_"\s*:\s*(true|false)/g;
  function ProbedWebSocket(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    if (String(url).includes("/_event")) {
      probe.sockets += 1;
      probe.open = false;
      probe.hydrated = false;
      ws.addEventListener("open", () => { probe.open = true; });
      ws.addEventListener("close", () => { probe.open = false; probe.hydrated = false; });
      ws.addEventListener("message", (event) => {
        if (typeof event.data !== "string") return;
        let match, last = null;
        FLAG.lastIndex = 0;
        while ((match = FLAG.exec(event.data)) !== null) last = match[1];
        if (last !== null) probe.hydrated = last === "true";
      });
    }
    return ws;
  }
  ProbedWebSocket.prototype = Native.prototype;
  for (const key of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) ProbedWebSocket[key] = Native[key];
  window.WebSocket = ProbedWebSocket;
  // A client-side navigation re-runs the page's on_load: not hydrated until Reflex says so.
  for (const name of ["pushState", "replaceState"]) {
    const original = history[name];
    history[name] = function (...args) {
      const before = location.pathname + location.search;
      const result = original.apply(this, args);
      if (location.pathname + location.search !== before) probe.hydrated = false;
      return result;
    };
  }
})();
"""

_HYDRATED_JS = """
(markerId) => {
  const probe = window.__meshkeysProbe;
  if (probe && !(probe.open && probe.hydrated)) return false;
  const marker = document.getElementById(markerId);
  if (marker) {
    if (!marker.value) return false;
    const flag = marker.getAttribute("data-hydrated");
    return flag === null || flag === "true";
  }
  return !!probe;
}
"""

_HYDRATION_STATE_JS = """
(markerId) => {
  const marker = document.getElementById(markerId);
  return {
    url: location.href,
    marker: marker ? { value: marker.value, hydrated: marker.getAttribute("data-hydrated") } : null,
    probe: window.__meshkeysProbe || null,
  };
}
"""


def install_hydration_probe(context: BrowserContext) -> None:
    """Add HYDRATION_PROBE_JS to every page of ``context`` (must happen before navigating)."""
    context.add_init_script(HYDRATION_PROBE_JS)


def wait_for_hydration(page: Page, timeout: float = 30_000) -> None:
    """Wait until the page's Reflex state has hydrated (websocket up, first delta applied).

    ``timeout`` in milliseconds, like Playwright. Raises AssertionError with what was seen.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_function(_HYDRATED_JS, arg=HYDRATION_MARKER_ID, timeout=timeout)
    except PlaywrightTimeoutError:
        seen = page.evaluate(_HYDRATION_STATE_JS, HYDRATION_MARKER_ID)
        hint = ""
        if seen["marker"] is None and seen["probe"] is None:
            hint = (
                f" The page has no #{HYDRATION_MARKER_ID} marker and the hydration probe is not "
                "installed: render the marker, or create the context with "
                "tests.e2e.support.new_context (or call install_hydration_probe(context) before "
                "navigating)."
            )
        elif seen["probe"] is not None and not seen["probe"]["open"]:
            hint = (
                " The Reflex websocket is not open: is the backend up, or did it refuse the "
                "page's origin (server log: 'is not an accepted origin')?"
            )
        raise AssertionError(
            f"page did not hydrate within {timeout / 1000:.0f} s: {seen}.{hint}"
        ) from None
