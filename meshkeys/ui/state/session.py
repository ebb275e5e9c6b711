"""The base of every signed-in page: who acts (from the HttpOnly cookie) and the project switcher.

The session cookie is set by the API's ``/auth/login`` route and never reaches JavaScript.
Reflex receives it, as a digest (``meshkeys.web_session``), in the websocket handshake headers
(``self.router.headers.cookie``), so every handler opens a unit of work signed in through
``services.auth.actor_for_session_digest`` and calls a service with it. The page guard
(``on_load`` redirect) is only for comfort: the services check the actor's role on every call.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import quote

import reflex as rx
from reflex.middleware import Middleware

from meshkeys.config import get_settings
from meshkeys.forwarding import client_address
from meshkeys.services import auth, projects
from meshkeys.services.context import Actor, RequestInfo
from meshkeys.services.errors import DomainError, NotFound
from meshkeys.services.uow import UnitOfWork
from meshkeys.ui.state.pending import finished
from meshkeys.web_session import SESSION_COOKIE, parse_cookie, safe_next, session_digest

T = TypeVar("T")

SIGNED_OUT_MESSAGE = "Your session has ended. Sign in again to continue."


class SignedOut(Exception):
    """No valid session cookie on this websocket."""


# The session SessionGuard found valid at the start of the event being processed (its digest
# and user). Reflex runs each event in a task of its own, with a copy of the context, and runs
# the middleware and then the handler in that task: the handler signs in with what the guard
# found instead of looking the session up a second time. A session ended meanwhile is seen
# at the next event, as a request's session is checked once when it starts.
_CHECKED_SESSION: ContextVar[tuple[str, Actor] | None] = ContextVar(
    "meshkeys_checked_session", default=None
)


@dataclasses.dataclass
class ProjectItem:
    id: str
    name: str
    role: str


def _as_list(events: Any) -> list[Any]:
    if events is None:
        return []
    return list(events) if isinstance(events, (list, tuple)) else [events]


def fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


class SessionState(rx.State):
    """Signed-in user, their projects (for the switcher) and the helpers every page state uses."""

    user_email: str = ""
    nav_projects: list[ProjectItem] = []
    # The project of the current page ("" outside project pages) and the actor's role in it.
    current_project_id: str = ""
    current_project_name: str = ""
    role: str = ""
    # Set when the project of the URL is unknown or not the user's: the page shows why.
    not_found: str = ""
    # The action running now (its button shows a spinner), "" when idle.
    busy: str = ""
    # True until the page's first load finished (the page shows a spinner, not an empty state).
    loading: bool = True
    # The "create" dialog of the page is open.
    creating: bool = False
    # True once a signed-in call loaded data into this tab (SessionGuard checks such tabs).
    _holds_data: bool = False

    # ------------------------------------------------------------ helpers (not events)

    def _session_token(self) -> str | None:
        """The session's digest: the websocket only ever sees the cookie hashed
        (``SessionCookieDigest``), so the raw token never enters the state store."""
        return session_digest(parse_cookie(self.router.headers.cookie, SESSION_COOKIE))

    def _request_info(self) -> RequestInfo:
        # Reflex's own client_ip trusts X-Forwarded-For by hop count, from anyone: the peer
        # (``asgi-scope-client``) is checked against MESHKEYS_TRUSTED_PROXIES instead.
        raw = self.router.headers.raw_headers
        peer = raw.get("asgi-scope-client") or self.router.session.client_ip or None
        return RequestInfo(
            client_ip=client_address(
                peer, raw.get("x-forwarded-for"), get_settings().trusted_proxies
            ),
            user_agent=(self.router.headers.user_agent or "")[:400] or None,
        )

    def _signed_in(self) -> UnitOfWork:
        """A unit of work acting as the session's user; SignedOut without a valid session.

        Without one, every signed-in var of this tab is cleared first (``_forget``): what an
        earlier, valid session loaded never reaches a websocket that has no cookie.
        """
        uow = UnitOfWork(request=self._request_info())
        digest = self._session_token()
        checked = _CHECKED_SESSION.get()
        if digest is not None and checked is not None and checked[0] == digest:
            uow.act_as(checked[1])  # found valid by SessionGuard at the start of this event
        elif auth.actor_for_session_digest(uow, digest=digest) is None:
            uow.close()
            self._forget()
            raise SignedOut
        self._session_root()._holds_data = True
        return uow

    def _has_session(self) -> bool:
        """Whether this websocket's session is valid now; if it is, the rest of this event's
        handlers sign in with it (``_CHECKED_SESSION``)."""
        digest = self._session_token()
        with UnitOfWork(request=self._request_info()) as uow:
            actor = auth.actor_for_session_digest(uow, digest=digest)
        _CHECKED_SESSION.set((digest, actor) if digest is not None and actor else None)
        return actor is not None

    def _session_root(self) -> SessionState:
        state: rx.State = self
        while type(state) is not SessionState:
            parent = state.parent_state
            assert parent is not None  # every page state descends from SessionState
            state = parent
        return state  # type: ignore[return-value]

    def _forget(self) -> None:
        """Reset this tab's SessionState and its loaded substates (every page's rows)."""
        root = self._session_root()
        root.reset()
        root._holds_data = False

    def _call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Call one service in a unit of work signed in as the session's user."""
        with self._signed_in() as uow:
            return fn(uow, **kwargs)

    def _page_params(self) -> dict[str, Any]:
        """The URL's route arguments and query parameters (``project_id``, ``cursor``...).

        What Reflex's own route-argument vars read. Not ``self.router.page``: deprecated
        since Reflex 0.8.1, each access logs through a check of the caller's frames whose first
        run in a process scans the standard library (270 to 370 ms measured here: the first
        page a worker served after starting waited for it)."""
        return self.rx_router_page.params

    def _route_project_id(self) -> uuid.UUID:
        raw = str(self._page_params().get("project_id", "") or "")
        try:
            return uuid.UUID(raw)
        except ValueError:
            raise NotFound(
                "Project not found, or you are not a member of it. Ask an owner to add you."
            ) from None

    def _login_url(self) -> str:
        """/login, remembering the page that was asked for (sign-in returns there)."""
        url = self.router.url
        asked = safe_next(url.path + (f"?{url.query}" if url.query else ""), default="")
        return f"/login?next={quote(asked, safe='')}" if asked not in ("", "/") else "/login"

    def _failed(self, exc: Exception) -> Any:
        """The events that tell the user what went wrong (and send signed-out users to /login)."""
        if isinstance(exc, SignedOut):
            to_login = rx.redirect(self._login_url())
            if not self._session_token():  # never signed in: no need to explain
                return to_login
            return [rx.toast.error(SIGNED_OUT_MESSAGE), to_login]
        if isinstance(exc, DomainError):
            return rx.toast.error(exc.message)
        raise exc

    def _attempt(self, *steps: Callable[[], Any]) -> Any:
        """Run steps in order; on a domain error or a lost session, the events that say so."""
        try:
            for step in steps:
                step()
        except (SignedOut, DomainError) as exc:
            return self._failed(exc)
        return None

    def _action(self, busy: str, work: Callable[[], T], done: Callable[[T], Any]):
        """Body of an action handler (``yield from``): spinner on, work, spinner off, outcome."""
        self.busy = busy
        yield
        try:
            result = work()
        except (SignedOut, DomainError) as exc:
            self.busy = ""
            yield self._failed(exc)
            return
        self.busy = ""
        yield done(result)

    def _answer(self, work: Callable[[], T], done: Callable[[T], Any]) -> list[Any]:
        """Body of an action whose button spins in the browser (``state.pending``): the work,
        then in the same answer the outcome (or the refusal) and the end of the spinner."""
        try:
            events = done(work())
        except (SignedOut, DomainError) as exc:
            events = self._failed(exc)
        return [*_as_list(events), finished()]

    def _load_page(self, *steps: Callable[[], Any], project: bool) -> Any:
        """on_load body: the navigation (and the URL's project), then the page's own steps."""
        self.loading = True
        self.busy = ""
        self.not_found = ""
        failed = self._attempt(lambda: self._load_nav(project=project), *steps)
        self.loading = False
        if self.not_found:  # said once, in the page's place (not_found_notice), not as a toast too
            return None
        return failed

    def _load_nav(self, *, project: bool) -> None:
        """The user's email and projects; with ``project``, the URL's project and role."""
        with self._signed_in() as uow:
            items = projects.list_projects(uow)
            self.user_email = uow.actor.email
            self.nav_projects = [
                ProjectItem(id=str(p.id), name=p.name, role=str(p.role or "")) for p in items
            ]
            self.not_found = ""
            if not project:
                self.current_project_id = ""
                self.current_project_name = ""
                self.role = ""
                return
            try:
                info = projects.get_project(uow, project_id=self._route_project_id())
            except NotFound as exc:
                self.current_project_id = ""
                self.current_project_name = ""
                self.role = ""
                self.not_found = exc.message
                raise
        self.current_project_id = str(info.id)
        self.current_project_name = info.name
        self.role = str(info.role or "")

    # ------------------------------------------------------------ vars and events

    @rx.var
    def can_edit(self) -> bool:
        return self.role in ("owner", "admin")

    @rx.var
    def is_owner(self) -> bool:
        return self.role == "owner"

    @rx.event
    def guard(self):
        """on_load of pages outside a project: redirect to /login without a valid session."""
        try:
            self._load_nav(project=False)
        except (SignedOut, DomainError) as exc:
            return self._failed(exc)

    @rx.event
    def set_creating(self, value: bool):
        self.creating = value

    @rx.event
    def switch_project(self, project_id: str):
        return rx.redirect(f"/projects/{project_id}/keys")

    @rx.event
    def go_home(self):
        """``/``: the first project's keys when signed in, else /login."""
        try:
            self._load_nav(project=False)
        except SignedOut:
            return rx.redirect("/login")
        if self.nav_projects:
            return rx.redirect(f"/projects/{self.nav_projects[0].id}/keys")
        return rx.redirect("/projects")


def _page_states(cls: type[rx.State]) -> list[type[rx.State]]:
    """``cls`` and every state below it."""
    found = [cls]
    for sub in cls.get_substates():
        found += _page_states(sub)
    return found


class SessionGuard(Middleware):
    """Before every event: a tab whose websocket has no valid session cookie holds no signed-in
    data, whatever tab token it presents.

    Reflex keeps a tab's state under its token (``sessionStorage``) and sends all of it on
    hydration. A token replayed from another browser without the cookie would otherwise get the
    user's email, projects and keys in that snapshot; here the signed-in states are reset
    first, so it gets the defaults. A handler of the same event signs in with the session
    found here; one of an event that did not check (a tab holding no data yet) looks it up.
    """

    async def preprocess(self, app: Any, state: Any, event: Any) -> None:
        _CHECKED_SESSION.set(None)
        session = await state.get_state(SessionState)
        if not session._holds_data or session._has_session():
            return None  # nothing to hide, or still signed in
        for cls in _page_states(SessionState):
            await state.get_state(cls)  # loaded, so that reset() reaches it
        session._forget()
        return None
