"""`meshkeys token create|list|revoke` and `meshkeys keys sign|verify` (click's runner)."""

from __future__ import annotations

import json

import pytest
import standardwebhooks
from fastapi.testclient import TestClient

from meshkeys.api.app import create_api


@pytest.fixture
def run(cli):
    return cli


def test_token_create_prints_a_token_once_that_the_api_accepts(run, world):
    email = world.admin.email
    created = run("token", "create", "--user", email, "--name", "ci-deploy")
    token = created.stdout.splitlines()[0]
    assert token.startswith("mk_") and "shown once" in created.stdout

    client = TestClient(create_api())
    answer = client.get(
        "/keys",
        params={"project_id": str(world.project_id)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200

    listed = json.loads(run("token", "list", "--user", email, "--json").stdout)
    assert [(t["name"], t["token_prefix"]) for t in listed] == [("ci-deploy", token[:7])]
    assert listed[0]["last_used_at"] is not None
    assert token not in run("token", "list", "--user", email).stdout

    revoked = json.loads(run("token", "revoke", listed[0]["id"], "--user", email, "--json").stdout)
    assert revoked["revoked_at"] is not None
    run("token", "revoke", listed[0]["id"], "--user", email, code=5)
    run("token", "revoke", listed[0]["id"], "--user", world.viewer.email, code=3)
    run("token", "revoke", "not-a-uuid", "--user", email, code=2)
    assert (
        client.get(
            "/keys",
            params={"project_id": str(world.project_id)},
            headers={"Authorization": f"Bearer {token}"},
        ).status_code
        == 401
    )


def test_keys_sign_and_verify_round_trip_and_interoperate(run, world, tmp_path):
    project, admin = str(world.project_id), world.admin.email
    key = json.loads(
        run(
            "keys", "generate", "--project", project, "--name", "cli", "--user", admin, "--json"
        ).stdout
    )
    payload = '{"id": 1, "text": "naïve"}'
    headers = json.loads(
        run(
            "keys", "sign", "--project", project, "--payload", payload, "--user", admin, "--json"
        ).stdout
    )
    assert standardwebhooks.Webhook(key["secret"]).verify(payload, headers) == json.loads(payload)

    human = run(
        "keys",
        "sign",
        "--project",
        project,
        "--payload",
        payload,
        "--msg-id",
        "msg_cli",
        "--user",
        admin,
    ).stdout
    assert human.splitlines()[0] == "webhook-id: msg_cli"
    as_options = [arg for line in human.splitlines() for arg in ("--header", line)]
    verified = run(
        "keys",
        "verify",
        "--project",
        project,
        "--payload",
        payload,
        *as_options,
        "--user",
        world.viewer.email,
    )
    assert verified.stdout.strip() == f"valid: signed by key {key['id']}"

    body = tmp_path / "body.bin"
    body.write_bytes(b"\x00\xffbinary")
    # Binary bodies, byte for byte: from a file to sign, through stdin to verify.
    signed = json.loads(
        run(
            "keys",
            "sign",
            "--project",
            project,
            "--payload-file",
            str(body),
            "--user",
            admin,
            "--json",
        ).stdout
    )
    args = [a for k, v in signed.items() for a in ("--header", f"{k}: {v}")]
    run(
        "keys",
        "verify",
        "--project",
        project,
        "--payload-file",
        "-",
        *args,
        "--user",
        admin,
        input=body.read_bytes(),
    )
    tampered = run(
        "keys", "verify", "--project", project, "--payload", "other", *args, "--user", admin, code=2
    )
    assert "no signature matches" in tampered.output


def test_sign_and_verify_say_what_is_wrong(run, world):
    project, admin = str(world.project_id), world.admin.email
    none = run("keys", "sign", "--project", project, "--payload", "x", "--user", admin, code=5)
    assert "Generate a key first" in none.output
    both = run("keys", "sign", "--project", project, "--user", admin, code=2)
    assert "--payload" in both.output
    run("keys", "generate", "--project", project, "--name", "k", "--user", admin)
    run(
        "keys", "sign", "--project", project, "--payload", "x", "--user", world.viewer.email, code=4
    )
    run(
        "keys",
        "sign",
        "--project",
        project,
        "--payload",
        "x",
        "--user",
        world.outsider.email,
        code=3,
    )
    bad = run(
        "keys",
        "verify",
        "--project",
        project,
        "--payload",
        "x",
        "--header",
        "no-colon",
        "--user",
        admin,
        code=2,
    )
    assert "name: value" in bad.output
    stale = run(
        "keys",
        "verify",
        "--project",
        project,
        "--payload",
        "x",
        "--header",
        "webhook-id: m",
        "--header",
        "webhook-timestamp: 1",
        "--header",
        "webhook-signature: v1,AAAA",
        "--user",
        admin,
        code=2,
    )
    assert "300 s" in stale.output


def test_token_create_scopes_the_token_and_refuses_bad_scopes_with_exit_2(run, world):
    project, admin = str(world.project_id), world.admin.email
    created = run(
        "token", "create", "--user", admin, "--name", "sender", "--project", project,
        "--permission", "webhooks:sign", "--expires-in", "30",
    )  # fmt: skip
    token = created.stdout.splitlines()[0]
    assert f"scope: project {project}  webhooks:sign  expires " in created.stdout
    client = TestClient(create_api())
    auth = {"Authorization": f"Bearer {token}"}
    run("keys", "generate", "--project", project, "--name", "k", "--user", admin)
    signed = client.post(
        "/webhooks/sign", headers=auth, json={"project_id": project, "payload": ""}
    )
    assert signed.status_code == 200
    listed = client.get("/keys", headers=auth, params={"project_id": project})
    assert listed.status_code == 403 and "'keys:read'" in listed.json()["detail"]
    (row,) = json.loads(run("token", "list", "--user", admin, "--json").stdout)
    assert (row["project_id"], row["permissions"]) == (project, ["webhooks:sign"])
    assert row["expires_at"] is not None
    assert (
        f"[project {project}  webhooks:sign  expires "
        in run("token", "list", "--user", admin).stdout
    )

    for bad, says in [
        (("--permission", "keys:admin"), "'keys:admin' is not one of"),
        (("--expires-in", "0"), "1<=x<=365"),
        (("--expires-in", "366"), "1<=x<=365"),
        (("--project", "not-a-uuid"), "--project must be a UUID"),
    ]:
        assert says in run("token", "create", "--user", admin, *bad, code=2).output
    beyond = run(
        "token", "create", "--user", world.viewer.email, "--project", project,
        "--permission", "keys:write", code=2,
    )  # fmt: skip
    assert "does not allow keys:write" in beyond.output
    run("token", "create", "--user", admin, "--project", str(world.other_project_id), code=3)
