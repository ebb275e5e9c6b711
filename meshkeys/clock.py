"""The one source of "now" for the services; tests replace ``clock.now``."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
