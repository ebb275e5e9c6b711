"""Per-request dependencies: one database session, the acting user, the client's address."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from meshkeys.db import session_scope
from meshkeys.services import auth
from meshkeys.services.context import Actor, RequestInfo

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiToken",
    description=(
        "An API token (`mk_...`) from `meshkeys token create --user EMAIL` or /settings/tokens."
    ),
)


def get_session() -> Iterator[Session]:
    """One session per request; services commit, anything left over is rolled back.

    ``scope="request"``: the session closes after the response is SENT, so a streamed
    answer (the audit export) reads its rows through it. One session per request also
    matters on SQLite, where a second one would wait for the first one's write lock.
    """
    with session_scope() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="request")]


def current_actor(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The user behind the bearer token; 401 (via Unauthenticated) when there is none."""
    return auth.actor_for_api_token(session, token=credentials.credentials if credentials else None)


CurrentActor = Annotated[Actor, Depends(current_actor)]


def describe_client(request: Request) -> RequestInfo:
    """Client IP and user agent, for the audit log (as the ASGI server reports the peer)."""
    return RequestInfo(
        client_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


async def request_info(request: Request) -> RequestInfo:
    """The dependency form of ``describe_client``. ``async``: no I/O here, so it runs on the
    event loop instead of costing a thread hop."""
    return describe_client(request)


ClientInfo = Annotated[RequestInfo, Depends(request_info)]
