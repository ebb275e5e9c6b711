"""The one source of "now" for the services; tests replace ``clock.now``.

Tests that run the app in other processes cannot replace a function there: they set
``MESHKEYS_CLOCK_OFFSET_SECONDS`` (refused with ``MESHKEYS_ENV=production``), and ``now()``
runs that far ahead of the system clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meshkeys.config import get_settings


def now() -> datetime:
    offset = get_settings().clock_offset_seconds
    moment = datetime.now(UTC)
    return moment + timedelta(seconds=offset) if offset else moment
