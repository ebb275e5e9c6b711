"""Per-request dependencies: one unit of work, signed in with the bearer token; the client.

A route takes ``uow: SignedIn`` and passes it to the services: the unit of work's actor is
the token's user (401 when there is none) and its request info is the client's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from meshkeys.config import get_settings
from meshkeys.forwarding import client_address
from meshkeys.models import Permission
from meshkeys.services import auth, cache
from meshkeys.services.context import Actor, RequestInfo
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


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def signed_in(
    uow: Annotated[UnitOfWork, Depends(unit_of_work, scope="request")],
    credentials: Bearer,
) -> UnitOfWork:
    """The request's unit of work, acting as the bearer token's user (401 without one)."""
    auth.actor_for_api_token(uow, token=credentials.credentials if credentials else None)
    return uow


SignedIn = Annotated[UnitOfWork, Depends(signed_in)]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Caller:
    """A request's client and its bearer token's actor, signed in before the route's own
    parameters are read (a bad token is a 401 whatever else is wrong, as on every route).
    ``warm``: a unit of work without a session, acting as that actor, for a first try from
    memory (``answer``); None when the generation could not be read without a thread."""

    info: RequestInfo
    actor: Actor
    warm: UnitOfWork | None


# Where ``api.middleware.GenerationPrefetch`` leaves the generation read it began on arrival.
GENERATION_READ = "meshkeys.generation_read"


async def caller(request: Request, credentials: Bearer) -> Caller:
    """The ``async`` routes' sign-in: from the token cache on the event loop when the
    generation reads without a thread (``cache.read_generation_async``, PostgreSQL), else in
    the thread pool, in a unit of work of its own (the token's lookup is a transaction of
    its own in any case: ``auth.actor_for_api_token``)."""
    info = describe_client(request)
    token = credentials.credentials if credentials else None
    generation = await cache.read_generation_async(request.scope.get(GENERATION_READ))
    if generation is not None:
        uow = UnitOfWork.from_cache(generation, request=info)
        try:
            return Caller(info, auth.actor_for_api_token(uow, token=token), uow)
        except NeedsDatabase:
            pass
    return Caller(info, await run_in_threadpool(_sign_in, info, token), None)


Authenticated = Annotated[Caller, Depends(caller)]


def _sign_in(info: RequestInfo, token: str | None) -> Actor:
    with UnitOfWork(request=info, cached=True) as uow:
        return auth.actor_for_api_token(uow, token=token)


async def answer(who: Caller, work: Callable[[UnitOfWork], T]) -> T:
    """``work(uow)`` as the caller, from memory when it can be: the routes a sender or a
    poller hits on every call (sign, verify, batch, the key list) are ``async`` and call this.

    First on the event loop, in the caller's unit of work without a session
    (``UnitOfWork.from_cache``): a warm request costs the generation's one round trip and no
    thread hop. If anything is not in the caches (``NeedsDatabase``: a first request, a
    change since, a refusal to audit), nothing was done, and the whole work runs again in
    the thread pool in an ordinary unit of work, as a ``SignedIn`` route's would.
    """
    if who.warm is not None:
        try:
            return work(who.warm)
        except NeedsDatabase:
            pass
    return await run_in_threadpool(_in_unit_of_work, who, work)


def _in_unit_of_work(who: Caller, work: Callable[[UnitOfWork], T]) -> T:
    with UnitOfWork(request=who.info, cached=True) as uow:
        uow.act_as(who.actor)
        return work(uow)


PERMISSION_KEY = "x-permission"


def needs(permission: Permission) -> dict[str, Any]:
    """A route's ``openapi_extra``: the permission its service call requires of the actor.

    The services enforce it (``access.require``); this declares it, in /openapi.json and in
    docs/API.md's table, and tests/scenarios/test_api_token_scopes.py checks that a token
    lacking exactly this permission is refused on the route.
    """
    return {PERMISSION_KEY: str(permission)}
