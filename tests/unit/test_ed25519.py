"""Standard Webhooks v1a (ed25519): the key formats, and interop with two other implementations
(``cryptography``'s Ed25519PublicKey over the signed content, and PyNaCl / libsodium)."""

from __future__ import annotations

import base64

import nacl.exceptions
import nacl.signing
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from meshkeys.crypto import ed25519
from meshkeys.crypto.signing import SignatureError, sign_headers

# RFC 8032, section 7.1, TEST 1 (empty message).
RFC_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
NOW = 1_700_000_000
PAYLOAD = b'{"type":"invoice.paid","data":{"id":"in_1"}}'


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _signature_bytes(entry: str) -> bytes:
    version, _, encoded = entry.partition(",")
    assert version == "v1a"
    return base64.b64decode(encoded, validate=True)


def test_key_formats_are_the_standard_webhooks_ones():
    signing_key = ed25519.generate_signing_key()
    assert signing_key.startswith("whsk_")
    assert len(base64.b64decode(signing_key[5:], validate=True)) == 32  # the seed
    public = ed25519.public_key_of(signing_key)
    assert public.startswith("whpk_") and len(base64.b64decode(public[5:], validate=True)) == 32
    assert ed25519.generate_signing_key() != signing_key


def test_the_rfc_8032_vector_gives_its_public_key_and_signature():
    signing_key = "whsk_" + b64(RFC_SEED)
    assert ed25519.public_key_of(signing_key) == "whpk_" + b64(RFC_PUBLIC)
    assert ed25519.private_key(signing_key).sign(b"") == RFC_SIGNATURE


def test_a_v1a_signature_verifies_with_cryptography_over_the_signed_content():
    signing_key = ed25519.generate_signing_key()
    entry = ed25519.sign(signing_key, msg_id="msg_1", timestamp=NOW, payload=PAYLOAD)
    signature = _signature_bytes(entry)
    assert len(signature) == 64
    raw_public = base64.b64decode(ed25519.public_key_of(signing_key)[5:])
    receiver = Ed25519PublicKey.from_public_bytes(raw_public)
    receiver.verify(signature, b"msg_1.%d." % NOW + PAYLOAD)  # raises if it does not verify
    with pytest.raises(InvalidSignature):
        receiver.verify(signature, b"msg_1.%d." % NOW + PAYLOAD + b" ")


def test_a_v1a_signature_verifies_with_pynacl_and_pynacl_signatures_verify_here():
    signing_key = ed25519.generate_signing_key()
    headers = ed25519.add_signatures(
        sign_headers([], payload=PAYLOAD, msg_id="msg_2", timestamp=NOW),
        [signing_key],
        payload=PAYLOAD,
    )
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + PAYLOAD
    verify_key = nacl.signing.VerifyKey(base64.b64decode(ed25519.public_key_of(signing_key)[5:]))
    signature = _signature_bytes(headers["webhook-signature"])
    assert verify_key.verify(content, signature) == content
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verify_key.verify(content.replace(b"in_1", b"in_2"), signature)

    # The other way: libsodium signs with the same seed, meshkeys verifies (ed25519 is
    # deterministic, so both write the very same signature).
    nacl_key = nacl.signing.SigningKey(base64.b64decode(signing_key[5:]))
    theirs = "v1a," + b64(nacl_key.sign(content).signature)
    assert theirs == headers["webhook-signature"]
    public = "whpk_" + b64(bytes(nacl_key.verify_key))
    sent = {**headers, "webhook-signature": theirs}
    assert ed25519.verify([("k", public)], headers=sent, payload=PAYLOAD, clock=lambda: NOW) == "k"


def test_v1a_entries_go_beside_the_v1_ones_and_each_scheme_matches_its_own():
    hmac_secret = "whsec_" + b64(b"s" * 32)
    signing_key = ed25519.generate_signing_key()
    headers = ed25519.add_signatures(
        sign_headers([hmac_secret], payload=PAYLOAD, msg_id="msg_3", timestamp=NOW),
        [signing_key],
        payload=PAYLOAD,
    )
    versions = [part.split(",")[0] for part in headers["webhook-signature"].split()]
    assert versions == ["v1", "v1a"]
    public = ed25519.public_key_of(signing_key)
    assert ed25519.verify([(1, public)], headers=headers, payload=PAYLOAD, clock=lambda: NOW) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"payload": PAYLOAD + b"x"}, "no signature matches"),
        ({"clock": NOW + 301}, "replay protection"),
        ({"signature": "v1,abcd v1a,!!! v1a," + b64(b"x" * 10)}, "holds no v1a signature"),
        ({"timestamp": "soon"}, "whole seconds"),
        ({"msg_id": ""}, "webhook-id is empty"),
    ],
)
def test_verify_refuses_with_a_reason(change, message):
    signing_key = ed25519.generate_signing_key()
    public = ed25519.public_key_of(signing_key)
    headers = ed25519.add_signatures(
        sign_headers([], payload=PAYLOAD, msg_id="msg_4", timestamp=NOW),
        [signing_key],
        payload=PAYLOAD,
    )
    if "signature" in change:
        headers["webhook-signature"] = change["signature"]
    if "timestamp" in change:
        headers["webhook-timestamp"] = change["timestamp"]
    if "msg_id" in change:
        headers["webhook-id"] = change["msg_id"]
    with pytest.raises(SignatureError, match=message):
        ed25519.verify(
            [(1, public)],
            headers=headers,
            payload=change.get("payload", PAYLOAD),
            clock=lambda: change.get("clock", NOW),
        )


def test_another_keys_signature_does_not_verify():
    headers = ed25519.add_signatures(
        sign_headers([], payload=PAYLOAD, msg_id="msg_5", timestamp=NOW),
        [ed25519.generate_signing_key()],
        payload=PAYLOAD,
    )
    other = ed25519.public_key_of(ed25519.generate_signing_key())
    with pytest.raises(SignatureError, match="no signature matches"):
        ed25519.verify([(1, other)], headers=headers, payload=PAYLOAD, clock=lambda: NOW)


@pytest.mark.parametrize(
    "bad",
    [
        "whsec_" + b64(b"a" * 32),
        "whsk_" + b64(b"a" * 31),
        "whsk_" + b64(b"a" * 64),
        "whsk_not base64!",
    ],
)
def test_malformed_signing_keys_are_refused(bad):
    with pytest.raises(ValueError, match="signing key"):
        ed25519.private_key(bad)


@pytest.mark.parametrize("bad", ["whsk_" + b64(b"a" * 32), "whpk_" + b64(b"a" * 33), "whpk_@"])
def test_malformed_public_keys_are_refused(bad):
    with pytest.raises(ValueError, match="public key"):
        ed25519.public_key(bad)


def test_a_loaded_signing_key_signs_exactly_as_its_text_does():
    """sign_batch loads each ed25519 key once per request; ed25519 is deterministic, so the
    loaded key's signature is the text key's, byte for byte."""
    from meshkeys.crypto import ed25519 as v1a

    key = v1a.generate_signing_key()
    loaded = v1a.private_key(key)
    args = {"msg_id": "msg_1", "timestamp": 1_700_000_000, "payload": b'{"a":1}'}
    assert v1a.sign(loaded, **args) == v1a.sign(key, **args)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": ""}
    assert v1a.add_signatures(headers, [loaded], payload=b'{"a":1}') == v1a.add_signatures(
        headers, [key], payload=b'{"a":1}'
    )
