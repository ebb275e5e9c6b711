"""Where the master key comes from.

1. ``MESHKEYS_MASTER_KEY`` (base64 of 32 bytes), with older keys in
   ``MESHKEYS_MASTER_KEYS`` still accepted for decryption during a rotation.
2. In development only: ``.meshkeys/master.key``, created on first use with
   mode 0600 (the folder 0700, and git-ignored).

Production without ``MESHKEYS_MASTER_KEY`` is refused by ``config.load_settings``.
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache

from meshkeys.config import ConfigError, Settings, decode_master_key, get_settings
from meshkeys.crypto.encryption import Keyring


def _read_or_create_key_file(settings: Settings) -> bytes:
    path = settings.master_key_file
    if path.exists():
        return decode_master_key(path.read_text().strip(), source=str(path))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    raw = os.urandom(32)
    # O_EXCL: two processes starting at once must not both write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return decode_master_key(path.read_text().strip(), source=str(path))
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(raw).decode("ascii") + "\n")
    return raw


def keyring_from_settings(settings: Settings) -> Keyring:
    older = tuple(
        decode_master_key(k, source="MESHKEYS_MASTER_KEYS") for k in settings.old_master_keys
    )
    if settings.master_key:
        current = decode_master_key(settings.master_key, source="MESHKEYS_MASTER_KEY")
    elif settings.is_production:
        raise ConfigError("MESHKEYS_ENV=production needs MESHKEYS_MASTER_KEY")
    else:
        current = _read_or_create_key_file(settings)
    return Keyring(current=current, older=tuple(k for k in older if k != current))


@lru_cache(maxsize=1)
def get_keyring() -> Keyring:
    return keyring_from_settings(get_settings())
