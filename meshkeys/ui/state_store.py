"""Reflex's state store on disk (``.states/*.pkl``, used without Redis): readable by its owner only.

Every tab's state is pickled there: signed-in vars, the websocket's headers (the session cookie
only as a digest, ``meshkeys.web_session``), and ``_`` backend vars. Reflex writes the files with
the process's umask (world-readable under the usual 022), so the app sets a umask of 077 for its
own process before Reflex writes any, and tightens what an earlier run left.
"""

from __future__ import annotations

import os
from pathlib import Path

from reflex.utils.prerequisites import get_states_dir

PRIVATE_UMASK = 0o077


def restrict_state_store(states_dir: Path | None = None) -> int:
    """Files this process creates from now on are 0600 (directories 0700); the states directory
    and the files already in it are made so too. Returns the previous umask."""
    previous = os.umask(PRIVATE_UMASK)
    directory = states_dir or get_states_dir()
    if directory.is_dir():
        directory.chmod(0o700)
        for path in directory.iterdir():
            if path.is_file():
                path.chmod(0o600)
    return previous
