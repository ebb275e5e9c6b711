"""End-to-end fixtures: Debian's Chromium for pytest-playwright, and the real app on a free port.

- ``app`` (module): this module's own app, ``tests.e2e.support.serve``: started by
  ``tests.e2e.apprunner.run_app`` (migrations, then ``reflex run --env prod`` on one free port,
  fresh SQLite database, random master key), with this process pointed at the same database and
  master key while the module runs, so tests seed and check through the services. A module that
  needs the app started otherwise overrides ``app`` with ``serve(tmp_dir, **run_app_options)``.
- Browser contexts come from ``tests.e2e.support.new_context(browser, app)``; each module defines
  its ``page`` fixture with it.

Run this ring in its own pytest process (sync Playwright breaks asyncio tests that run
after it in the same process); ``make test`` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.apprunner import STARTUP_TIMES, RunningApp
from tests.e2e.support import serve

CHROMIUM = Path(os.environ.get("MESHKEYS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    # Never let Playwright download a browser (offline machines): drive the distribution's Chromium.
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: end-to-end tests need Chromium. Install Debian's package "
            "(`apt-get install chromium`), or point MESHKEYS_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with serve(tmp_path_factory.mktemp("app")) as running:
        yield running


def pytest_terminal_summary(terminalreporter) -> None:
    if not STARTUP_TIMES:
        return
    starts = ", ".join(f"{m:.1f}+{r:.1f}" for m, r in STARTUP_TIMES)
    total = sum(m + r for m, r in STARTUP_TIMES)
    terminalreporter.write_line(
        f"e2e: {len(STARTUP_TIMES)} app start(s), migrate+`reflex run` seconds: {starts} "
        f"(total {total:.1f} s)"
    )
