"""All of meshkeys' cryptography: small, and in one place."""

from meshkeys.crypto.encryption import DecryptionError, Keyring
from meshkeys.crypto.secrets import generate_secret, generate_token, hash_token, key_hint
from meshkeys.crypto.signing import SignatureError, sign, verify

__all__ = [
    "DecryptionError",
    "Keyring",
    "SignatureError",
    "generate_secret",
    "generate_token",
    "hash_token",
    "key_hint",
    "sign",
    "verify",
]
