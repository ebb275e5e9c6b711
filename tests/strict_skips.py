"""pytest plugin for `make test` (loaded with ``-p tests.strict_skips``): a skip fails the run.

The product contract: nothing is skipped silently; a missing prerequisite is an error that says
what to install. A plain `pytest` run is unaffected.
"""

from __future__ import annotations

import pytest


def _skipped(config: pytest.Config) -> list:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return reporter.stats.get("skipped", []) if reporter is not None else []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped(session.config) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    skipped = _skipped(config)
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} skipped test(s) count as failures here: install what the skip "
            "reason names, or fix the test so that it fails with that message instead.",
            red=True,
            bold=True,
        )
