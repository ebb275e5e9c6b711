"""The browser session helpers both web doors share: where sign-in may send the browser."""

from __future__ import annotations

import pytest

from meshkeys.web_session import safe_next


@pytest.mark.parametrize(
    "path",
    ["/settings/tokens", "/projects/0b6f/keys?status=revoked&q=prod", "/projects/x/audit#top"],
)
def test_a_path_of_this_site_is_followed(path):
    assert safe_next(path) == path


@pytest.mark.parametrize(
    "path",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/projects\\..\\evil",
        "/with space",
        "/line\nbreak",
        "/login",
        "/login/?next=/x",
        "x" * 10 + "/relative",
        "/" + "a" * 2000,
    ],
)
def test_anything_else_goes_home_never_to_another_site(path):
    assert safe_next(path) == "/"
