"""Browser sign-in, sign-out and first-run setup: the routes that own the session cookie.

The cookie holds a random session token; the database holds only its hash
(``services.auth.start_session``). It is HttpOnly (no script reads it),
SameSite=Strict (no other site sends it), and Secure when the request came over
HTTPS. The Reflex states read it, as a digest (``meshkeys.web_session``), from the
websocket handshake headers and resolve the actor through
``services.auth.actor_for_session_digest`` on every event.

All three routes take JSON and answer JSON (``{"detail": ...}`` on errors, as
the REST API does), so the login page can show the service's message in place.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from meshkeys.api.deps import describe_client
from meshkeys.api.errors import ErrorBody, error_responses
from meshkeys.api.middleware import is_https
from meshkeys.config import get_settings
from meshkeys.services import auth, invites, projects
from meshkeys.services.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from meshkeys.services.uow import UnitOfWork
from meshkeys.web_session import (
    REFLEX_EVENT_PATH,
    SESSION_COOKIE,
    digest_cookie_header,
    safe_next,
    session_digest,
)

__all__ = ["SESSION_COOKIE", "SessionCookieDigest", "router", "session_digest"]


class SessionCookieDigest:
    """ASGI middleware: the Reflex websocket gets the session cookie as a digest, never raw.

    Reflex keeps the handshake's headers in every state's ``router_data``, which it
    pickles into the state store (files, or Redis with several workers). The raw
    token there would let anyone who can read the store take over sessions; the
    digest is what the database already holds and is useless as a cookie.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("path", "").startswith(
            REFLEX_EVENT_PATH
        ):
            headers = [
                (k, digest_cookie_header(v.decode("latin-1")).encode("latin-1"))
                if k == b"cookie"
                else (k, v)
                for k, v in scope.get("headers", [])
            ]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


router = APIRouter(prefix="/auth", tags=["browser session"])


class LoginBody(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    # The page that was asked for before signing in; only a path of this site is followed.
    next: str | None = Field(default=None, max_length=2000)


class SetupBody(LoginBody):
    project_name: str = Field(default="My first project", max_length=200)


class SignedIn(BaseModel):
    email: str
    next: str  # where the browser goes now


class SignedUp(SignedIn):
    project_id: str


class SignedOut(BaseModel):
    next: str


class SetupNeeded(BaseModel):
    needs_setup: bool


_BAD_PASSWORD = {401: {"model": ErrorBody, "description": "Email or password is wrong."}}


def _is_https(request: Request) -> bool:
    return is_https(request.scope)


def _same_origin(request: Request) -> bool:
    """Refuse cross-site form posts: the Origin, when sent, must be the app's own (this host, any
    port) or an allowed one; the websocket applies the same rule (``Settings.accepts_origin``)."""
    origin, host = request.headers.get("origin"), request.headers.get("host")
    return get_settings().accepts_origin(origin, host=host)


PLAIN_HTTP_REFUSED = (
    "Sign in over HTTPS: this meshkeys runs in production (MESHKEYS_ENV=production) and this "
    "request came over plain HTTP. Open the https:// address; an operator behind a TLS proxy "
    "lists the proxy in MESHKEYS_TRUSTED_PROXIES so its X-Forwarded-Proto is believed."
)


def _plain_http_in_production(request: Request) -> bool:
    """A session cookie must never travel in clear: production refuses to issue one over HTTP."""
    return get_settings().is_production and not _is_https(request)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _with_cookie(response: JSONResponse, request: Request, token: str) -> JSONResponse:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=get_settings().session_ttl_seconds,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post(
    "/login",
    response_model=SignedIn,
    responses={**_BAD_PASSWORD, **error_responses(400, 403, 413, 422, 429)},
)
def login(body: LoginBody, request: Request) -> JSONResponse:
    if not _same_origin(request):
        return _error(403, "Sign in from the meshkeys page itself.")
    if _plain_http_in_production(request):
        return _error(403, PLAIN_HTTP_REFUSED)
    try:
        with UnitOfWork(request=describe_client(request)) as uow:
            actor = auth.authenticate(uow, email=body.email, password=body.password)
            token = auth.start_session(uow)
    except RateLimited as exc:
        return _error(429, exc.message, {"Retry-After": str(exc.retry_after)})
    except Unauthenticated as exc:
        return _error(401, exc.message)
    response = JSONResponse({"email": actor.email, "next": safe_next(body.next)})
    return _with_cookie(response, request, token)


@router.post("/logout", response_model=SignedOut, responses=error_responses(400, 403, 413))
def logout(request: Request) -> JSONResponse:
    if not _same_origin(request):
        return _error(403, "Sign out from the meshkeys page itself.")
    token = request.cookies.get(SESSION_COOKIE)
    with UnitOfWork(request=describe_client(request)) as uow:
        auth.end_session(uow, token=token)
    response = JSONResponse({"next": "/login"})
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_is_https(request)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/setup", response_model=SetupNeeded)
def setup_needed() -> JSONResponse:
    with UnitOfWork() as uow:
        return JSONResponse({"needs_setup": auth.needs_setup(uow)})


@router.post(
    "/setup",
    status_code=201,
    response_model=SignedUp,
    responses=error_responses(400, 403, 409, 413, 422),
)
def setup(body: SetupBody, request: Request) -> JSONResponse:
    """First run only: create the first admin and their first project, and sign them in."""
    if not _same_origin(request):
        return _error(403, "Set up meshkeys from its own page.")
    if _plain_http_in_production(request):
        return _error(403, PLAIN_HTTP_REFUSED)
    try:
        with UnitOfWork(request=describe_client(request)) as uow:
            actor, project = projects.setup_first_admin(
                uow,
                email=body.email,
                password=body.password,
                project_name=body.project_name or "My first project",
            )
            token = auth.start_session(uow)
    except Conflict as exc:
        return _error(409, exc.message)
    except InvalidInput as exc:
        return _error(400, exc.message)
    except DomainError as exc:
        return _error(400, exc.message)
    response = JSONResponse(
        {
            "email": actor.email,
            "project_id": str(project.id),
            "next": f"/projects/{project.id}/keys",
        },
        status_code=201,
    )
    return _with_cookie(response, request, token)


class InviteBody(BaseModel):
    token: str = Field(max_length=200)
    password: str = Field(max_length=1024)


@router.post(
    "/invite",
    status_code=201,
    response_model=SignedUp,
    responses=error_responses(400, 403, 404, 409, 413, 422),
)
def accept_invite(body: InviteBody, request: Request) -> JSONResponse:
    """Use a one-time invite link: create the invitee's account, join the project with the
    invited role, and sign in. The token is never logged nor echoed."""
    if not _same_origin(request):
        return _error(403, "Accept the invite from the meshkeys page itself.")
    if _plain_http_in_production(request):
        return _error(403, PLAIN_HTTP_REFUSED)
    try:
        with UnitOfWork(request=describe_client(request)) as uow:
            actor, project_id = invites.accept_invite(uow, token=body.token, password=body.password)
            token = auth.start_session(uow)
    except NotFound as exc:
        return _error(404, exc.message)
    except Conflict as exc:
        return _error(409, exc.message)
    except DomainError as exc:
        return _error(400, exc.message)
    response = JSONResponse(
        {
            "email": actor.email,
            "project_id": str(project_id),
            "next": f"/projects/{project_id}/keys",
        },
        status_code=201,
    )
    return _with_cookie(response, request, token)
