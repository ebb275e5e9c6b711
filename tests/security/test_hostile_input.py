"""Hostile input through the API in-process: every answer is a 4xx that says what is wrong,
never a 500. The named cases of issue 8 first, then hypothesis throwing arbitrary text (lone
surrogates, NUL, bidi controls, bytes that are not UTF-8, JSON cursors of any shape) at every
cursor and text filter."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshkeys.services import cursors
from tests.api_world import assert_error


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _query(params: dict[str, str | bytes]) -> str:
    """A query string of raw bytes: text is sent as UTF-8 with surrogates passed through, so a
    lone surrogate arrives as the bytes an attacker would send (not valid UTF-8)."""
    parts = []
    for name, value in params.items():
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        parts.append(f"{name}={quote_from_bytes(raw, safe='')}")
    return "&".join(parts)


def _nested(depth: int) -> str:
    """A cursor of ``depth`` nested lists (json.dumps itself would overflow the stack)."""
    text = "[" * depth + "]" * depth
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


NAMED_CURSORS = {
    "audit seq over int32": (_cursor(["s", 2**31]), "/audit"),
    "audit seq of 40 digits": (_cursor(["s", 10**40]), "/audit"),
    "search cursor with NUL": (_cursor(["n", "a\x00b", "0" * 32]), "/keys"),
    "search cursor with a lone surrogate": (_cursor(["n", "\ud800", "0" * 32]), "/keys"),
    "2,000 nested lists (keys)": (_nested(2000), "/keys"),
    "2,000 nested lists (audit)": (_nested(2000), "/audit"),
}


@pytest.mark.parametrize("case", list(NAMED_CURSORS))
def test_malformed_cursors_are_a_400_that_says_use_the_previous_page(api, case):
    cursor, path = NAMED_CURSORS[case]
    params = {"project_id": api.project, "cursor": cursor}
    if path == "/keys" and cursor.startswith(_cursor(["n"])[:4]):
        params["q"] = "a"
    answer = api.client.get(f"{path}?{_query(params)}", headers=api.headers("viewer"))
    assert_error(answer, 400, contains="cursor is not valid")


def test_a_name_whose_lowercase_overflows_the_column_is_a_400(api):
    answer = api.post("/keys/generate", json={"project_id": api.project, "name": "İ" * 101})
    assert_error(answer, 400, contains="name of 1 to 200")


@pytest.mark.parametrize("field", ["payload", "msg_id"])
def test_a_lone_surrogate_to_sign_is_a_422_naming_the_field(api, field):
    api.generate()
    body = {"project_id": api.project, "payload": "{}", field: "a\ud800b"}
    answer = api.client.post(
        "/webhooks/sign",
        headers={**api.headers(), "Content-Type": "application/json"},
        content=json.dumps(body),  # ensure_ascii: the surrogate travels as \\ud800
    )
    assert_error(answer, 422, contains=field)
    assert "UTF-8" in answer.json()["detail"]


@pytest.mark.parametrize("where", ["payload", "webhook-id", "webhook-signature"])
def test_a_lone_surrogate_to_verify_is_a_4xx_naming_it(api, where):
    api.generate()
    headers = api.sign("{}")
    body = {"project_id": api.project, "payload": "{}", "headers": dict(headers)}
    if where == "payload":
        body["payload"] = "\udfff"
    else:
        body["headers"][where] = "msg_\ud800"
    answer = api.client.post(
        "/webhooks/verify",
        headers={**api.headers("viewer"), "Content-Type": "application/json"},
        content=json.dumps(body),
    )
    assert answer.status_code in (400, 422), answer.text
    assert where in answer.json()["detail"]


def test_the_widest_date_range_is_answered(api):
    params = {"since": "1900-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"}
    assert api.events(**params)
    params = {"since": "0001-01-01T00:00:00+14:00", "until": "9999-12-31T23:59:59-14:00"}
    answer = api.get(f"/audit?{_query({'project_id': api.project, **params})}")
    assert_error(answer, 400, contains="between the years 1 and 9999")


# ---------------------------------------------------------------- hypothesis

SPECIALS = ["\x00", "\ud800", "\udfff", "İ", "\u202e", "\ufeff", "%", "'", '"', "\\", "[", "=", "ß"]
TEXT = st.one_of(
    st.text(max_size=300),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.lists(st.sampled_from(SPECIALS), max_size=20).map("".join),
)
RAW = st.binary(max_size=60)  # not even UTF-8
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)
CURSOR = st.one_of(
    TEXT,
    RAW,
    JSON.map(_cursor),
    st.tuples(st.sampled_from(["c", "n", "s"]), JSON, JSON).map(lambda t: _cursor(list(t))),
    st.tuples(st.just("s"), st.integers()).map(lambda t: _cursor(list(t))),
)
VALUE = st.one_of(TEXT, RAW)
HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _never_5xx(api, path: str, params: dict[str, str | bytes]) -> None:
    answer = api.client.get(f"{path}?{_query(params)}", headers=api.headers("viewer"))
    assert answer.status_code < 500, (params, answer.text)
    if answer.status_code >= 400:
        assert answer.json()["detail"], answer.text


@HYPOTHESIS
@given(q=VALUE, status=VALUE, cursor=CURSOR)
def test_any_key_search_status_and_cursor_is_answered_without_a_500(api, q, status, cursor):
    _never_5xx(api, "/keys", {"project_id": api.project, "q": q, "cursor": cursor})
    _never_5xx(api, "/keys", {"project_id": api.project, "status": status})


@HYPOTHESIS
@given(
    cursor=CURSOR,
    actor=VALUE,
    action=VALUE,
    key_id=VALUE,
    since=st.one_of(VALUE, st.datetimes().map(lambda d: d.isoformat() + "Z")),
    until=st.one_of(VALUE, st.datetimes().map(lambda d: d.isoformat() + "+14:00")),
)
def test_any_audit_filter_and_cursor_is_answered_without_a_500(
    api, cursor, actor, action, key_id, since, until
):
    project = {"project_id": api.project}
    _never_5xx(api, "/audit", {**project, "cursor": cursor, "actor": actor})
    _never_5xx(api, "/audit", {**project, "action": action, "key_id": key_id})
    _never_5xx(api, "/audit", {**project, "since": since, "until": until})
    _never_5xx(api, "/audit/export", {**project, "actor": actor, "since": since})


@HYPOTHESIS
@given(name=TEXT, payload=TEXT, msg_id=TEXT)
def test_any_name_payload_and_message_id_is_answered_without_a_500(api, name, payload, msg_id):
    def post(path: str, body: dict) -> None:
        answer = api.client.post(
            path,
            headers={**api.headers(), "Content-Type": "application/json"},
            content=json.dumps(body),
        )
        assert answer.status_code < 500, (body, answer.text)

    post("/keys/generate", {"project_id": api.project, "name": name})
    post("/webhooks/sign", {"project_id": api.project, "payload": payload, "msg_id": msg_id})
    headers = {"webhook-id": msg_id, "webhook-timestamp": "1", "webhook-signature": payload}
    post("/webhooks/verify", {"project_id": api.project, "payload": payload, "headers": headers})


def test_the_cursor_module_still_refuses_an_int32_overflow():
    with pytest.raises(cursors.InvalidInput):
        cursors.decode_seq(cursors.encode_seq(cursors.MAX_SEQ + 1))
