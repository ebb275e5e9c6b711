"""A throwaway Redis for tests (Reflex's state manager when several workers serve the app).

    from tests.redisserver import redis_server

    with redis_server() as redis:
        redis.url            # redis://127.0.0.1:PORT/0
        redis.stop(); redis.start()   # a fault: the same port, the same (empty) server again

Two modes, like tests/pgserver.py:

- ``MESHKEYS_TEST_REDIS_URL`` set: that server is used as it is (its database is flushed at
  exit); ``stop``/``start`` are refused, a shared server is not the tests' to stop.
- Otherwise: Debian's ``redis-server`` (``/usr/bin/redis-server``, or ``MESHKEYS_REDIS_SERVER``)
  started on a free port on 127.0.0.1, no persistence (no RDB, no AOF), in a temporary
  directory that is deleted at exit.

Pure Python plus redis-py (a Reflex dependency); no meshkeys imports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

EXTERNAL_URL_ENV = "MESHKEYS_TEST_REDIS_URL"
BINARY_ENV = "MESHKEYS_REDIS_SERVER"
DEFAULT_BINARY = Path("/usr/bin/redis-server")
INSTALL_HINT = (
    "install Debian's redis-server package (`apt-get install redis-server`; `make test` does), "
    f"point {BINARY_ENV} at a redis-server binary, or set {EXTERNAL_URL_ENV} to a Redis URL "
    "the tests may flush (redis://127.0.0.1:6379/15)"
)


class RedisServerError(RuntimeError):
    """The throwaway Redis could not be provided; the message says what to do."""


@dataclasses.dataclass
class RedisServer:
    url: str
    port: int
    external: bool
    binary: Path | None = None
    workdir: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def ping(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        """Start the local server (again) on its port; wait until it answers."""
        if self.external:
            raise RedisServerError(f"{EXTERNAL_URL_ENV} names a shared server: not stopping it")
        assert self.binary is not None and self.workdir is not None
        argv = [
            str(self.binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + 20
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RedisServerError(f"redis-server did not start on {self.port}:\n{log}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.external:
            raise RedisServerError(f"{EXTERNAL_URL_ENV} names a shared server: not stopping it")
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A Redis the tests own (see the module docstring)."""
    external = os.environ.get(EXTERNAL_URL_ENV, "").strip()
    if external:
        server = RedisServer(url=external, port=0, external=True)
        if not server.ping():
            raise RedisServerError(f"{EXTERNAL_URL_ENV}={external} does not answer PING")
        try:
            yield server
        finally:
            with contextlib.suppress(redis.RedisError):
                redis.Redis.from_url(external).flushdb()
        return
    binary = Path(os.environ.get(BINARY_ENV) or DEFAULT_BINARY)
    if not binary.is_file():
        raise RedisServerError(f"{binary} not found: {INSTALL_HINT}")
    workdir = Path(tempfile.mkdtemp(prefix="mkredis-"))
    server = RedisServer(url="", port=_free_port(), external=False, binary=binary, workdir=workdir)
    server.url = f"redis://127.0.0.1:{server.port}/0"
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
