"""The `meshkeys` command end to end on a SQLite file (click's runner, real services)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import PASSWORD


@pytest.fixture
def run(cli):
    return cli


def test_the_whole_lifecycle_from_the_command_line(run):
    run("db", "upgrade")
    run("user", "create", "ops@example.com", "--password-stdin", input=PASSWORD + "\n")
    run("user", "create", "eve@example.com", "--password-stdin", input=PASSWORD + "\n")
    project_id = run("project", "create", "Payments", "--owner", "ops@example.com").stdout.strip()
    run(
        "member",
        "add",
        project_id,
        "eve@example.com",
        "--role",
        "viewer",
        "--user",
        "ops@example.com",
    )

    key = json.loads(
        run(
            "keys",
            "generate",
            "--project",
            project_id,
            "--name",
            "prod",
            "--user",
            "ops@example.com",
            "--json",
        ).stdout
    )
    assert key["secret"].startswith("whsec_") and key["status"] == "active"

    listed = json.loads(
        run("keys", "list", "--project", project_id, "--user", "eve@example.com", "--json").stdout
    )
    assert listed["total"] == 1 and "secret" not in listed["items"][0]

    denied = run(
        "keys", "revoke", key["id"], "--reason", "retired", "--user", "eve@example.com", code=4
    )
    assert "viewer" in denied.output

    revoked = json.loads(
        run(
            "keys",
            "revoke",
            key["id"],
            "--reason",
            "retired",
            "--user",
            "ops@example.com",
            "--json",
        ).stdout
    )
    assert revoked["status"] == "revoked"
    run("keys", "revoke", key["id"], "--reason", "retired", "--user", "ops@example.com", code=5)
    run("keys", "reactivate", key["id"], "--user", "ops@example.com")
    rotated = json.loads(
        run(
            "keys",
            "rotate",
            key["id"],
            "--grace-seconds",
            "60",
            "--user",
            "ops@example.com",
            "--json",
        ).stdout
    )
    assert rotated["secret"] != key["secret"]
    # One chain: the project's (no sign-ins happened, so the account chain is empty).
    assert run("audit", "verify").stdout.strip().startswith("ok: 1 chains,")


def test_errors_are_clear_and_exit_non_zero(run):
    run("user", "create", "ops@example.com", "--password-stdin", input=PASSWORD + "\n")
    bad_uuid = run("keys", "list", "--project", "nope", "--user", "ops@example.com", code=2)
    assert "must be a UUID" in bad_uuid.output
    unknown = run("project", "create", "X", "--owner", "ghost@example.com", code=3)
    assert "meshkeys user create" in unknown.output
    weak = run("user", "create", "b@example.com", "--password-stdin", input="short\n", code=2)
    assert "at least 10 characters" in weak.output


def test_seed_creates_real_keys(run):
    out = json.loads(
        run(
            "seed", "--keys", "25", "--project", "Bench", "--owner", "b@example.com", "--json"
        ).stdout
    )
    listed = json.loads(
        run(
            "keys",
            "list",
            "--project",
            out["project_id"],
            "--user",
            "b@example.com",
            "--status",
            "revoked",
            "--json",
        ).stdout
    )
    assert listed["total"] == 2  # one in ten revoked


def test_cli_actions_write_the_same_structured_log_lines_as_the_other_doors(run, monkeypatch):
    monkeypatch.setenv("MESHKEYS_LOG_JSON", "1")
    from meshkeys.config import reset_settings

    reset_settings()
    run("user", "create", "ops@example.com", "--password-stdin", input=PASSWORD + "\n")
    project_id = run("project", "create", "Payments", "--owner", "ops@example.com").stdout.strip()
    made = run(
        "keys", "generate", "--project", project_id, "--name", "prod", "--user", "ops@example.com"
    )
    secret = made.stdout.split()[1]
    lines = [json.loads(line) for line in made.stderr.splitlines() if line.startswith("{")]
    assert [(e["logger"], e["event"]) for e in lines] == [("meshkeys.keys.audit", "key.generated")]
    assert lines[0]["actor"] == "ops@example.com" and lines[0]["project_id"] == project_id
    assert secret.startswith("whsec_") and secret not in made.stderr


def test_arguments_that_are_not_utf8_exit_2_saying_so(run, db_path):
    import subprocess
    import sys

    run("user", "create", "ops@example.com", "--password-stdin", input=PASSWORD + "\n")
    project = run("project", "create", "Payments", "--owner", "ops@example.com").stdout.strip()
    run("keys", "generate", "--project", project, "--name", "prod", "--user", "ops@example.com")
    signed_in = ["--project", project, "--user", "ops@example.com"]
    for args in [
        ["keys", "sign", *signed_in, "--payload", "\udcff"],
        ["keys", "verify", *signed_in, "--payload", "{}", "--header", "webhook-id=\udcc3"],
        ["keys", "list", *signed_in, "--search", "a\udcff"],
    ]:
        result = run(*args, code=2)
        assert "is not valid UTF-8 text" in result.output, args
    # The same from a real process, whose argv holds the raw byte.
    argv = [sys.executable, "-m", "meshkeys.cli", "keys", "sign", *signed_in, "--payload", b"\xff"]
    done = subprocess.run(argv, capture_output=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert b"is not valid UTF-8 text" in done.stderr and b"Traceback" not in done.stderr


def test_member_invite_prints_a_one_time_link(run):
    run("db", "upgrade")
    run("user", "create", "ops@example.com", "--password-stdin", input=PASSWORD + "\n")
    project_id = run("project", "create", "Payments", "--owner", "ops@example.com").stdout.strip()
    args = ("member", "invite", project_id, "new@example.com", "--role", "admin")
    link = run(*args, "--base-url", "https://keys.example/", "--user", "ops@example.com").stdout
    assert link.startswith("https://keys.example/invite/mki_")
    out = json.loads(run(*args, "--user", "ops@example.com", "--json").stdout)
    assert out["link"].startswith("http://localhost:3000/invite/mki_") and "token" not in out
    assert out["role"] == "admin" and out["email"] == "new@example.com"
    taken = run(
        "member",
        "invite",
        project_id,
        "ops@example.com",
        "--role",
        "viewer",
        "--user",
        "ops@example.com",
        code=5,
    )
    assert "already has an account" in taken.output


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MESHKEYS_LOG_SIGNING", "yes"),
        ("MESHKEYS_API_CACHE", "maybe"),
        ("MESHKEYS_ROTATION_INTERVAL_SECONDS", "0"),
    ],
)
def test_a_bad_setting_is_exit_2_naming_it_before_any_command_runs(run, monkeypatch, name, value):
    """Settings are first read when the group starts (the log setup): a bad one is a message
    naming it and exit 2 there, as inside a command, not a traceback."""
    from meshkeys import config

    monkeypatch.setenv(name, value)
    config.reset_settings()
    try:
        result = run("db", "upgrade", code=2)
    finally:  # the fixtures' teardown reads the settings too
        monkeypatch.delenv(name)
        config.reset_settings()
    assert result.output.startswith(f"configuration error: {name} must be"), result.output
    assert "Traceback" not in result.output
