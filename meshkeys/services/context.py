"""Who acts, and from where: passed keyword-only into every service call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: uuid.UUID
    email: str


@dataclass(frozen=True)
class RequestInfo:
    client_ip: str | None = None
    user_agent: str | None = None
