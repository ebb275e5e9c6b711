"""The app refuses to start when its configuration is unsafe.

rxconfig.py runs for every `reflex` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import random_master_key

ROOT = Path(__file__).resolve().parents[2]


def _import_rxconfig(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MESHKEYS_")}
    return subprocess.run(
        [sys.executable, "-c", "import rxconfig"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_master_key_refuses_to_start():
    result = _import_rxconfig(MESHKEYS_ENV="production")
    assert result.returncode != 0
    assert "meshkeys will not start" in result.stderr and "MESHKEYS_MASTER_KEY" in result.stderr


def test_production_with_master_key_starts():
    result = _import_rxconfig(MESHKEYS_ENV="production", MESHKEYS_MASTER_KEY=random_master_key())
    assert result.returncode == 0, result.stderr
