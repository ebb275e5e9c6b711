"""The webhook tester's curl command: a POSIX shell receives the payload and headers as typed."""

from __future__ import annotations

import subprocess

import pytest

from meshkeys.services.errors import InvalidInput
from meshkeys.ui.state.webhooks import DEFAULT_URL, curl_command, target_url

HEADERS = {"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,a= v1,b="}


@pytest.mark.parametrize(
    "payload",
    [
        '{"a": "it\'s"}',
        "it's 'quoted' \\ \"double\" $HOME `id` $(id) !x\n\tsecond line\n",
        "'",
        "ünïcode ✓",
    ],
)
def test_the_shell_passes_the_payload_and_headers_unchanged(payload: str):
    command = curl_command("https://example.com/hook?a=1&b=2", HEADERS, payload)
    # A stand-in curl that prints each argument it receives, NUL-separated.
    script = 'curl() { printf "%s\\0" "$@"; }\n' + command
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
    args = out.decode().split("\0")[:-1]
    assert args[:2] == ["-X", "POST"] and args[2] == "https://example.com/hook?a=1&b=2"
    assert args[-2:] == ["--data-binary", payload]
    for name, value in HEADERS.items():
        assert f"{name}: {value}" in args
    assert ("content-type: application/json" in args) == payload.startswith("{")


def test_the_url_field():
    assert target_url("  ") == DEFAULT_URL
    assert target_url(" http://localhost:8080/x ") == "http://localhost:8080/x"
    for bad in ("ftp://x", "https://", "https://a b", "javascript:alert(1)", "h" * 2001):
        with pytest.raises(InvalidInput):
            target_url(bad)
