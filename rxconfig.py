"""Reflex configuration for meshkeys.

Every ``reflex`` command imports this module first, so it is where the Reflex process gets its
environment: ``meshkeys/reflex_env.py`` (the offline defaults, node from the virtualenv, what the
development server watches; a value already set wins). meshkeys' own settings come from
``meshkeys.config.load_settings()``, the one parser of the environment; a misconfiguration (e.g.
production without a master key) stops here with a message saying what to set.

``cors_allowed_origins`` lists the pages besides the app's own origin that may call the backend:
the development frontend (``reflex run`` serves pages on another port than the backend) and
``MESHKEYS_ALLOWED_ORIGINS``. The app's own origin, on whatever port it is served, is accepted by
the websocket check that meshkeys/meshkeys.py installs (``Settings.accepts_origin``).
"""

from __future__ import annotations

from pathlib import Path

import reflex as rx

from meshkeys.config import ConfigError, load_settings
from meshkeys.reflex_env import apply_reflex_environment

apply_reflex_environment(Path(__file__).resolve().parent)

try:
    settings = load_settings()
except ConfigError as exc:
    raise SystemExit(f"meshkeys will not start: {exc}") from None

config = rx.Config(
    app_name="meshkeys",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.SitemapPlugin(),
        rx.plugins.RadixThemesPlugin(),
    ],
    # No database for Reflex: meshkeys opens its own engine (meshkeys/db.py) and migrates with
    # `meshkeys db upgrade`. Given a URL, Reflex compares the schema at every start by reading
    # alembic_version, which the runtime role may not read (docs/SECURITY.md): on PostgreSQL the
    # server would not start.
    db_url=None,
    cors_allowed_origins=list(settings.page_origins),
)
