"""Per-request dependencies: one unit of work, signed in with the bearer token; the client.

A route takes ``uow: SignedIn`` and passes it to the services: the unit of work's actor is
the token's user (401 when there is none) and its request info is the client's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from meshkeys.config import get_settings
from meshkeys.forwarding import client_address
from meshkeys.models import Permission
from meshkeys.services import auth, cache
from meshkeys.services.context import RequestInfo
from meshkeys.services.uow import NeedsDatabase, UnitOfWork

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiToken",
    description=(
        "An API token (`mk_...`) from `meshkeys token create --user EMAIL` or /settings/tokens."
    ),
)


def client_ip(request: Request) -> str | None:
    """The client's address: the peer, or what a trusted proxy forwarded (meshkeys.forwarding)."""
    return client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        get_settings().trusted_proxies,
    )


def describe_client(request: Request) -> RequestInfo:
    """Client IP and user agent, for the audit log and the sign-in throttle."""
    return RequestInfo(
        client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )


def unit_of_work(request: Request) -> Iterator[UnitOfWork]:
    """One unit of work per request; services commit, anything left over is rolled back.

    ``scope="request"``: it closes after the response is SENT, so a streamed answer (the
    audit export) reads its rows through it. One session per request also matters on
    SQLite, where a second one would wait for the first one's write lock. ``cached``: the
    token and the signing keys may come from ``services.cache``.
    """
    with UnitOfWork(request=describe_client(request), cached=True) as uow:
        yield uow


def signed_in(
    uow: Annotated[UnitOfWork, Depends(unit_of_work, scope="request")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UnitOfWork:
    """The request's unit of work, acting as the bearer token's user (401 without one)."""
    auth.actor_for_api_token(uow, token=credentials.credentials if credentials else None)
    return uow


SignedIn = Annotated[UnitOfWork, Depends(signed_in)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

T = TypeVar("T")


async def answer(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    work: Callable[[UnitOfWork], T],
) -> T:
    """``work(uow)`` signed in with the bearer token, from memory when it can be: the hot
    routes of a webhook sender (sign, verify, batch) are ``async`` and call this.

    First on the event loop, in a unit of work without a session
    (``UnitOfWork.from_cache``) checked against the generation read just now without a
    thread (``cache.read_generation_async``): a warm sign costs that one round trip and no
    thread hop. If anything is not in the caches (``NeedsDatabase``: a first request, a
    change since, a refusal to audit), nothing was done, and the whole work runs again in
    the thread pool in an ordinary unit of work, exactly as a ``SignedIn`` route would.
    """
    info = describe_client(request)
    token = credentials.credentials if credentials else None
    generation = await cache.read_generation_async()
    if generation is not None:
        uow = UnitOfWork.from_cache(generation, request=info)
        try:
            auth.actor_for_api_token(uow, token=token)
            return work(uow)
        except NeedsDatabase:
            pass
    return await run_in_threadpool(_in_unit_of_work, info, token, work)


def _in_unit_of_work(info: RequestInfo, token: str | None, work: Callable[[UnitOfWork], T]) -> T:
    with UnitOfWork(request=info, cached=True) as uow:
        auth.actor_for_api_token(uow, token=token)
        return work(uow)


PERMISSION_KEY = "x-permission"


def needs(permission: Permission) -> dict[str, Any]:
    """A route's ``openapi_extra``: the permission its service call requires of the actor.

    The services enforce it (``access.require``); this declares it, in /openapi.json and in
    docs/API.md's table, and tests/scenarios/test_api_token_scopes.py checks that a token
    lacking exactly this permission is refused on the route.
    """
    return {PERMISSION_KEY: str(permission)}
