"""The audit keys: HKDF-derived from the master key, one per label and per master key version."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from meshkeys.crypto import audit_keys
from meshkeys.crypto.encryption import Keyring

OLD, NEW = bytes(range(32)), bytes(range(1, 33))


def test_the_chain_key_is_hkdf_sha256_of_the_master_key_with_its_own_label():
    ring = Keyring(current=NEW)
    expected_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"meshkeys/audit-chain/hmac-sha256/v1"
    ).derive(NEW)
    expected = hmac.new(expected_key, b"content", hashlib.sha256).hexdigest()
    assert audit_keys.chain_mac(ring, ring.current_version, b"content") == expected
    assert expected_key != NEW
    assert audit_keys.derive(NEW, audit_keys.CHAIN_LABEL) != audit_keys.derive(
        NEW, audit_keys.CHECKPOINT_LABEL
    )


def test_older_master_keys_still_key_their_events_and_unknown_ones_are_named():
    ring = Keyring(current=NEW, older=(OLD,))
    old_version = Keyring(current=OLD).current_version
    assert audit_keys.chain_mac(ring, old_version, b"x") == audit_keys.chain_mac(
        Keyring(current=OLD), old_version, b"x"
    )
    assert audit_keys.chain_mac(ring, old_version, b"x") != audit_keys.chain_mac(
        ring, ring.current_version, b"x"
    )
    with pytest.raises(audit_keys.UnknownKeyVersion) as info:
        audit_keys.chain_macer(Keyring(current=NEW), old_version)
    assert info.value.version == old_version


def test_checkpoint_signatures_verify_only_unchanged_and_under_the_right_key():
    ring = Keyring(current=NEW)
    signature = audit_keys.sign_checkpoint(ring, b"body")
    assert len(base64.b64decode(signature)) == 64
    version = ring.current_version
    assert audit_keys.checkpoint_signature_ok(ring, version, b"body", signature)
    assert not audit_keys.checkpoint_signature_ok(ring, version, b"bodY", signature)
    assert not audit_keys.checkpoint_signature_ok(ring, version, b"body", "not base64!")
    other = Keyring(current=OLD, older=(NEW,))
    assert not audit_keys.checkpoint_signature_ok(other, other.current_version, b"body", signature)
    assert len(base64.b64decode(audit_keys.checkpoint_public_key(ring, version))) == 32
