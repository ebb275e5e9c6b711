"""The rotation policy through the REST API (both backends)."""

from __future__ import annotations

import uuid

import pytest

from tests.api_world import assert_error


def _url(api, project=None) -> str:
    return f"/projects/{project or api.project}/rotation-policy"


def _put(api, body, who="admin", project=None):
    return api.client.put(_url(api, project), headers=api.headers(who), json=body)


def test_an_admin_puts_a_policy_members_read_it_and_null_turns_it_off(api):
    assert api.get(_url(api), "viewer").json() == {
        "project_id": api.project,
        "rotate_every_days": None,
        "grace_seconds": 86400,
    }
    put = _put(api, {"rotate_every_days": 90, "grace_seconds": 3600})
    assert put.status_code == 200, put.text
    assert put.json()["rotate_every_days"] == 90 and put.json()["grace_seconds"] == 3600
    assert api.get(_url(api), "viewer").json()["rotate_every_days"] == 90
    key = api.generate("prod")
    listed = api.get("/keys", params={"project_id": api.project}).json()["items"]
    assert listed[0]["rotates_at"] is not None
    assert api.get(f"/keys/{key['id']}").json()["rotates_at"] == listed[0]["rotates_at"]
    off = _put(api, {"rotate_every_days": None})
    assert off.status_code == 200 and off.json()["rotate_every_days"] is None
    assert api.get(f"/keys/{key['id']}").json()["rotates_at"] is None
    actions = [e["action"] for e in api.events(action="project.policy_set")]
    assert actions == ["project.policy_set"]
    assert [e["action"] for e in api.events(action="project.policy_cleared")] == [
        "project.policy_cleared"
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"rotate_every_days": 0},
        {"rotate_every_days": 366},
        {"rotate_every_days": "30"},
        {"rotate_every_days": True},
        {"rotate_every_days": 30, "grace_seconds": -1},
        {"rotate_every_days": 30, "grace_seconds": 604801},
        {"rotate_every_days": 30, "extra": 1},
        {},
    ],
)
def test_bad_policies_get_422_saying_what_is_wrong(api, body):
    assert_error(_put(api, body), 422)
    assert api.get(_url(api)).json()["rotate_every_days"] is None


def test_a_viewer_gets_403_and_an_outsider_404(api):
    assert_error(_put(api, {"rotate_every_days": 30}, "viewer"), 403, contains="admin")
    assert_error(_put(api, {"rotate_every_days": 30}, "outsider"), 404)
    assert_error(api.get(_url(api), "outsider"), 404)
    assert_error(api.get(_url(api, uuid.uuid4())), 404)
    assert_error(api.get("/projects/not-a-uuid/rotation-policy"), 422)
    assert_error(api.client.get(_url(api)), 401)
