"""docs/DEPLOY.md shows the nginx config the cluster tests run: deploy/nginx.conf, verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_nginx_block_of_deploy_md_is_deploy_nginx_conf():
    doc = (ROOT / "docs" / "DEPLOY.md").read_text()
    match = re.search(
        r"<!-- deploy/nginx.conf -->\n```nginx\n(.*?)```\n<!-- /deploy/nginx.conf -->", doc, re.S
    )
    assert match, "docs/DEPLOY.md has no <!-- deploy/nginx.conf --> block"
    assert match.group(1) == (ROOT / "deploy" / "nginx.conf").read_text()


def test_every_slot_of_the_nginx_config_is_explained_in_deploy_md():
    doc = (ROOT / "docs" / "DEPLOY.md").read_text()
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    slots = set(re.findall(r"@@[A-Z_]+@@", conf))
    assert slots, "deploy/nginx.conf has no slots"
    explained = doc.split("<!-- deploy/nginx.conf -->")[0]
    assert all(f"`{slot}`" in explained for slot in slots), slots
