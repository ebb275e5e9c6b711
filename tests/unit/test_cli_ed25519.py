"""`meshkeys keys generate --type ed25519` and `meshkeys project public-keys` (click's runner)."""

from __future__ import annotations

import json

from tests.helpers import PASSWORD


def test_ed25519_keys_and_publishing_from_the_command_line(cli):
    cli("db", "upgrade")
    cli("user", "create", "ops@example.com", "--password-stdin", input=PASSWORD + "\n")
    project_id = cli("project", "create", "Payments", "--owner", "ops@example.com").stdout.strip()
    as_ops = ("--user", "ops@example.com")

    made = cli(
        "keys", "generate", "--project", project_id, "--name", "edge", "--type", "ed25519", *as_ops
    )
    key_id, secret, *rest = made.stdout.splitlines()
    assert secret.startswith("whsk_") and any("public key: whpk_" in line for line in rest)
    plain = json.loads(
        cli("keys", "generate", "--project", project_id, "--name", "h", *as_ops, "--json").stdout
    )
    assert plain["key_type"] == "hmac-sha256" and plain["public_key"] is None
    bad = cli(
        "keys", "generate", "--project", project_id, "--name", "x", "--type", "rsa", *as_ops, code=2
    )
    assert "hmac-sha256" in bad.output and "ed25519" in bad.output

    rotated = json.loads(cli("keys", "rotate", key_id, *as_ops, "--json").stdout)
    assert rotated["key_type"] == "ed25519" and rotated["secret"].startswith("whsk_")

    shown = cli("project", "public-keys", project_id, *as_ops)
    assert "not published" in shown.stdout and rotated["public_key"] in shown.stdout
    published = json.loads(
        cli("project", "public-keys", project_id, "--publish", *as_ops, "--json").stdout
    )
    assert published["published"] is True
    assert [k["public_key"] for k in published["keys"]][0] == rotated["public_key"]
    assert "whsk_" not in json.dumps(published)
    off = cli("project", "public-keys", project_id, "--unpublish", *as_ops)
    assert "not published" in off.stdout
