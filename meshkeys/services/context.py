"""Who acts, and from where: passed keyword-only into every service call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenScope:
    """What an API token narrows its user to: one project (None: all of the user's projects)
    and a set of permission names. The user's role still bounds it (``access.require``)."""

    token_id: uuid.UUID
    project_id: uuid.UUID | None
    permissions: frozenset[str]


@dataclass(frozen=True)
class Actor:
    """Who acts. ``scope`` is set when the user acts through an API token; a browser session
    and the CLI's ``--user`` act with the user's full role (``scope`` None)."""

    user_id: uuid.UUID
    email: str
    scope: TokenScope | None = None


@dataclass(frozen=True)
class RequestInfo:
    client_ip: str | None = None
    user_agent: str | None = None
