"""The REST API as the scenarios drive it: an ``ApiWorld`` is a TestClient over ``create_api()``
plus a World whose four users each hold an API token (fixture ``api`` in tests/backends.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import standardwebhooks
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meshkeys.services import auth
from tests.helpers import World, call

ROLES = ("owner", "admin", "viewer", "outsider")
USER_AGENT = "meshkeys-api-tests/1.0"
NOT_FOUND_KEY = "Key not found in your projects"


@dataclass
class ApiWorld:
    client: TestClient
    world: World
    tokens: dict[str, str]
    engine: Engine

    @property
    def project(self) -> str:
        return str(self.world.project_id)

    def headers(self, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", "User-Agent": USER_AGENT}

    def get(self, url: str, who: str = "admin", **kwargs):
        return self.client.get(url, headers=self.headers(who), **kwargs)

    def post(self, url: str, who: str = "admin", **kwargs):
        return self.client.post(url, headers=self.headers(who), **kwargs)

    def generate(self, name: str = "prod", who: str = "admin") -> dict:
        answer = self.post("/keys/generate", who, json={"project_id": self.project, "name": name})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def sign(self, payload: str, who: str = "admin", **extra) -> dict[str, str]:
        answer = self.post(
            "/webhooks/sign", who, json={"project_id": self.project, "payload": payload, **extra}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["headers"]

    def verify(self, payload: str, headers: dict[str, str], who: str = "viewer"):
        return self.post(
            "/webhooks/verify",
            who,
            json={"project_id": self.project, "payload": payload, "headers": headers},
        )

    def events(self, who: str = "owner", **params) -> list[dict]:
        answer = self.get(
            "/audit", who, params={"project_id": self.project, "limit": 500, **params}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]


def build_api_world(world: World, client: TestClient, engine: Engine) -> ApiWorld:
    tokens = {
        role: call(auth.create_api_token, getattr(world, role), bind=engine, name="api tests").token
        for role in ROLES
    }
    return ApiWorld(client=client, world=world, tokens=tokens, engine=engine)


def assert_error(answer, status: int, *, contains: str = "") -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert isinstance(body["detail"], str) and body["detail"], body
    assert contains in body["detail"], body
    return body


def _standard_headers(
    secret: str,
    payload: str,
    *,
    at: datetime | None = None,
    msg_id: str = "msg_from_standardwebhooks",
) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, at, payload)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


# ---------------------------------------------------------------- authentication
