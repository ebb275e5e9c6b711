"""Encryption at rest, master keys, secrets and password hashing."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from meshkeys.config import ConfigError, Settings, load_settings
from meshkeys.crypto import encryption, masterkey, passwords
from meshkeys.crypto.encryption import DecryptionError, Keyring
from meshkeys.crypto.masterkey import keyring_from_settings
from meshkeys.crypto.secrets import generate_secret, generate_token, hash_token, key_hint
from meshkeys.crypto.signing import sign


def ring() -> Keyring:
    return Keyring(current=os.urandom(32))


def test_round_trip_names_the_master_key_version():
    keys = ring()
    token = keys.encrypt(b"whsec_abc", associated_data=b"row-1")
    assert token.startswith(f"mk1.{keys.current_version}.")
    assert b"whsec_abc" not in token.encode()
    assert keys.decrypt(token, associated_data=b"row-1") == b"whsec_abc"


def test_every_encryption_uses_a_fresh_nonce():
    keys = ring()
    tokens = {keys.encrypt(b"same", associated_data=b"a") for _ in range(50)}
    nonces = {base64.urlsafe_b64decode(t.split(".")[2])[:12] for t in tokens}
    assert len(tokens) == 50 and len(nonces) == 50


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t,  # wrong associated data (applied below)
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),  # tampered tag
        lambda t: t.replace("mk1.", "mk9.", 1),  # unknown format
        lambda t: "mk1.deadbeef." + t.split(".", 2)[2],  # unknown master key version
        lambda t: t.split(".", 2)[0] + "." + t.split(".", 2)[1] + ".!!!",  # bad base64
        lambda t: "garbage",
    ],
)
def test_every_failure_is_the_same_opaque_error(mutate):
    keys = ring()
    token = keys.encrypt(b"secret", associated_data=b"row-1")
    aad = b"row-2" if mutate(token) == token else b"row-1"
    with pytest.raises(DecryptionError) as info:
        keys.decrypt(mutate(token), associated_data=aad)
    assert str(info.value) == "secret could not be decrypted"


def test_wrong_master_key_fails_opaquely():
    token = ring().encrypt(b"secret", associated_data=b"x")
    stranger = Keyring(current=os.urandom(32))
    with pytest.raises(DecryptionError):
        stranger.decrypt(token, associated_data=b"x")


def test_older_keys_still_decrypt_during_rotation():
    old, new = os.urandom(32), os.urandom(32)
    token = Keyring(current=old).encrypt(b"s", associated_data=b"x")
    rotated = Keyring(current=new, older=(old,))
    assert rotated.decrypt(token, associated_data=b"x") == b"s"
    assert rotated.encrypt(b"s", associated_data=b"x").split(".")[1] == encryption.key_version(new)


def test_keyring_rejects_short_keys():
    with pytest.raises(ValueError):
        Keyring(current=b"short")


def test_development_key_file_is_created_with_mode_0600(tmp_path):
    path = tmp_path / ".meshkeys" / "master.key"
    settings = Settings(master_key_file=path)
    first = keyring_from_settings(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # The same key is read back on the next start.
    assert keyring_from_settings(settings).current == first.current


def test_production_without_master_key_refuses_to_start():
    with pytest.raises(ConfigError, match="MESHKEYS_MASTER_KEY"):
        load_settings({"MESHKEYS_ENV": "production"})


def test_malformed_master_key_is_refused_with_a_recipe():
    with pytest.raises(ConfigError, match="32 random bytes"):
        load_settings({"MESHKEYS_MASTER_KEY": base64.b64encode(b"too short").decode()})


def test_env_master_key_wins_and_old_keys_are_loaded():
    current, old = os.urandom(32), os.urandom(32)
    settings = load_settings(
        {
            "MESHKEYS_MASTER_KEY": base64.b64encode(current).decode(),
            "MESHKEYS_MASTER_KEYS": base64.b64encode(old).decode(),
            "MESHKEYS_ENV": "production",
        }
    )
    keys = keyring_from_settings(settings)
    assert keys.current == current and keys.older == (old,)


def test_secrets_are_standard_webhooks_format():
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert key_hint(secret) == secret[-4:]
    assert generate_secret() != secret


def test_tokens_have_a_prefix_and_only_hashes_are_stored():
    token = generate_token()
    assert token.startswith("mk_") and len(token) > 40
    assert hash_token(token) != token and len(hash_token(token)) == 64


def test_password_hashes_are_salted_scrypt():
    first, second = passwords.hash_password("pw-123456789"), passwords.hash_password("pw-123456789")
    assert first.startswith("scrypt$") and first != second
    assert passwords.verify_password("pw-123456789", first)
    assert not passwords.verify_password("pw-123456780", first)
    assert not passwords.verify_password("pw-123456789", "not-a-hash")


def test_the_dummy_hash_costs_what_a_real_one_does():
    """Unknown emails are checked against it: same scrypt parameters, so the same time."""
    passwords.dummy_hash.cache_clear()
    assert passwords.dummy_hash().split("$")[:4] == passwords.hash_password("x" * 12).split("$")[:4]


def test_a_key_file_another_process_wrote_first_is_the_one_used(tmp_path, monkeypatch):
    """Two first starts at once: the one that loses the O_EXCL race reads the winner's key."""
    path = tmp_path / ".meshkeys" / "master.key"
    theirs = os.urandom(32)
    real_open = os.open

    def open_after_the_other_process(file, flags, mode=0o777):
        Path(file).write_text(base64.b64encode(theirs).decode() + "\n")
        return real_open(file, flags, mode)

    monkeypatch.setattr(masterkey.os, "open", open_after_the_other_process)
    assert keyring_from_settings(Settings(master_key_file=path)).current == theirs
    assert path.read_text().strip() == base64.b64encode(theirs).decode()


def test_the_keyring_refuses_production_without_a_master_key(tmp_path):
    """Settings built without load_settings still never fall back to a key file in production."""
    path = tmp_path / "master.key"
    with pytest.raises(ConfigError, match="MESHKEYS_MASTER_KEY"):
        keyring_from_settings(Settings(env="production", master_key_file=path))
    assert not path.exists()


def test_a_hash_of_another_scheme_is_a_mismatch():
    stored = passwords.hash_password("pw-123456789")
    assert not passwords.verify_password("pw-123456789", stored.replace("scrypt$", "bcrypt$", 1))


@pytest.mark.parametrize("secret", ["whsec_not*base64", "whsec_abc"])
def test_a_signing_secret_that_is_not_base64_is_refused(secret):
    with pytest.raises(ValueError, match="whsec_ followed by base64"):
        sign(secret, msg_id="msg_1", timestamp=1, payload=b"{}")
