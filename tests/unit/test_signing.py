"""Standard Webhooks v1: the published vector, interop with the reference package, tolerance."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import UTC, datetime

import pytest
import standardwebhooks

from meshkeys.crypto.secrets import generate_secret
from meshkeys.crypto.signing import SignatureError, sign, sign_headers, verify

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_published_vector():
    assert (
        sign(VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=VECTOR_TS, payload=VECTOR_BODY)
        == VECTOR_SIG
    )


def test_vector_verifies_with_an_injected_clock():
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": VECTOR_SIG,
    }
    assert (
        verify(
            [("k", VECTOR_SECRET)],
            headers=headers,
            payload=VECTOR_BODY,
            clock=lambda: VECTOR_TS + 10,
        )
        == "k"
    )


def test_our_signature_verifies_with_standardwebhooks():
    secret = generate_secret()
    payload = b'{"type":"invoice.paid","amount":4200}'
    headers = sign_headers([secret], payload=payload)
    standardwebhooks.Webhook(secret).verify(payload, headers)  # raises on mismatch


def test_standardwebhooks_signature_verifies_with_us():
    secret = generate_secret()
    payload = b'{"hello": "world"}'
    now = datetime.now(UTC)
    sig = standardwebhooks.Webhook(secret).sign("msg_1", now, payload.decode())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sig,
    }
    assert verify([("only", secret)], headers=headers, payload=payload) == "only"


def test_several_signatures_in_one_header_and_any_key_matches():
    a, b, c = generate_secret(), generate_secret(), generate_secret()
    headers = sign_headers([a, b], payload=b"x", msg_id="msg_2", timestamp=1_700_000_000)
    assert len(headers["webhook-signature"].split(" ")) == 2
    clock = lambda: 1_700_000_000  # noqa: E731
    assert verify([("c", c), ("b", b)], headers=headers, payload=b"x", clock=clock) == "b"
    with pytest.raises(SignatureError, match="no signature matches"):
        verify([("c", c)], headers=headers, payload=b"x", clock=clock)


def test_changed_payload_fails():
    secret = generate_secret()
    headers = sign_headers([secret], payload=b"original", timestamp=100, msg_id="m")
    with pytest.raises(SignatureError):
        verify([("k", secret)], headers=headers, payload=b"originaL", clock=lambda: 100)


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_timestamps_outside_300s_are_refused(skew):
    secret = generate_secret()
    headers = sign_headers([secret], payload=b"p", timestamp=1_000_000, msg_id="m")
    with pytest.raises(SignatureError, match="more than 300 s"):
        verify([("k", secret)], headers=headers, payload=b"p", clock=lambda: 1_000_000 + skew)


@pytest.mark.parametrize("skew", [300, -300, 0])
def test_timestamps_within_300s_pass(skew):
    secret = generate_secret()
    headers = sign_headers([secret], payload=b"p", timestamp=1_000_000, msg_id="m")
    assert (
        verify([("k", secret)], headers=headers, payload=b"p", clock=lambda: 1_000_000 + skew)
        == "k"
    )


def test_missing_and_malformed_headers_say_what_is_wrong():
    secret = generate_secret()
    with pytest.raises(SignatureError, match="missing header webhook-id"):
        verify([("k", secret)], headers={}, payload=b"p")
    bad_ts = {"webhook-id": "m", "webhook-timestamp": "soon", "webhook-signature": "v1,AAAA"}
    with pytest.raises(SignatureError, match="whole seconds"):
        verify([("k", secret)], headers=bad_ts, payload=b"p")
    no_v1 = {"webhook-id": "m", "webhook-timestamp": "5", "webhook-signature": "v2,AAAA v1,%%%"}
    with pytest.raises(SignatureError, match="no v1 signature"):
        verify([("k", secret)], headers=no_v1, payload=b"p", clock=lambda: 5)


def test_svix_header_names_are_accepted():
    secret = generate_secret()
    h = sign_headers([secret], payload=b"p", timestamp=7, msg_id="m")
    svix_headers = {k.replace("webhook-", "svix-"): v for k, v in h.items()}
    assert verify([("k", secret)], headers=svix_headers, payload=b"p", clock=lambda: 7) == "k"


def test_signature_is_over_raw_bytes_not_reencoded_json():
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    compact, spaced = b'{"a":1}', b'{"a": 1}'
    assert sign(secret, msg_id="m", timestamp=1, payload=compact) != sign(
        secret, msg_id="m", timestamp=1, payload=spaced
    )


@pytest.mark.parametrize("size", [0, 1, 16, 23])
def test_secrets_under_24_bytes_are_refused_to_sign_and_to_verify(size):
    short = "whsec_" + base64.b64encode(os.urandom(size)).decode()
    with pytest.raises(ValueError, match="at least 24 bytes"):
        sign(short, msg_id="m", timestamp=1, payload=b"p")
    with pytest.raises(ValueError, match="at least 24 bytes"):
        sign_headers([short], payload=b"p")
    headers = sign_headers([generate_secret()], payload=b"p", timestamp=1, msg_id="m")
    with pytest.raises(ValueError, match="at least 24 bytes"):
        verify([("k", short)], headers=headers, payload=b"p", clock=lambda: 1)
    assert sign(VECTOR_SECRET, msg_id="m", timestamp=1, payload=b"p")  # 24 bytes: the vector's


def test_an_empty_or_unencodable_webhook_id_never_verifies():
    secret = generate_secret()
    with pytest.raises(ValueError, match="webhook-id is empty"):
        sign_headers([secret], payload=b"p", msg_id="", timestamp=1)
    mac = base64.b64encode(
        hmac.new(base64.b64decode(secret[6:]), b".1.p", hashlib.sha256).digest()
    ).decode()
    forged = {"webhook-id": "", "webhook-timestamp": "1", "webhook-signature": f"v1,{mac}"}
    with pytest.raises(SignatureError, match="webhook-id is empty"):
        verify([("k", secret)], headers=forged, payload=b"p", clock=lambda: 1)
    surrogate = {**forged, "webhook-id": "msg_\ud800"}
    with pytest.raises(SignatureError, match="webhook-id is not text that UTF-8 can encode"):
        verify([("k", secret)], headers=surrogate, payload=b"p", clock=lambda: 1)


@pytest.mark.parametrize("webhook_first", [True, False])
def test_webhook_headers_count_before_svix_ones_in_whatever_order_they_come(webhook_first):
    real, other = generate_secret(), generate_secret()
    ours = sign_headers([real], payload=b"p", timestamp=7, msg_id="m1")
    theirs = sign_headers([other], payload=b"p", timestamp=7, msg_id="m2")
    svix = {k.replace("webhook-", "svix-"): v for k, v in theirs.items()}
    headers = {**ours, **svix} if webhook_first else {**svix, **ours}
    candidates = [("real", real), ("other", other)]
    assert verify(candidates, headers=headers, payload=b"p", clock=lambda: 7) == "real"
    mixed_case = {**ours, "Webhook-Id": "m2"}
    with pytest.raises(SignatureError, match="given twice with different values"):
        verify(candidates, headers=mixed_case, payload=b"p", clock=lambda: 7)
