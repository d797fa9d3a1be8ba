"""What every page needs: the template environment, the signed-in person, CSRF, errors.

Pages are rendered on the server with Jinja2 (autoescaped). Forms post back and the answer
redirects (post/redirect/get), so a reload never records a contact attempt twice.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import structlog
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from exchange import clock
from exchange.auth.scopes import default_scopes
from exchange.auth.tokens import Principal
from exchange.broker import Broker
from exchange.db import roll_back
from exchange.errors import ExchangeError
from exchange.organisations.models import OrganisationKind
from exchange.ui import i18n
from exchange.ui.accounts import SignedIn, csrf_matches, signed_in

log = structlog.get_logger("exchange.ui")
HERE = Path(__file__).parent
SESSION_COOKIE = "sx_session"
LANGUAGE_COOKIE = "sx_lang"
LOGIN_CSRF_COOKIE = "sx_login_csrf"
LOGIN_PATH = "/ui/login"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CASEWORK_KINDS = frozenset(
    {
        OrganisationKind.MUNICIPALITY,
        OrganisationKind.NEIGHBOURHOOD_TEAM,
        OrganisationKind.DEBT_SERVICE,
    }
)
OVERSIGHT_KINDS = frozenset({OrganisationKind.PRIVACY_OFFICER})

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class LoginRequired(Exception):
    pass


class PageError(Exception):
    """An error page: 403 (not your role), 404 (not yours), or a problem from a service."""

    def __init__(self, status: int, title_key: str, detail: str | None = None) -> None:
        super().__init__(title_key)
        self.status = status
        self.title_key = title_key
        self.detail = detail


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return chosen if chosen in i18n.LANGUAGES else "nl"


def secure_cookies(broker: Broker) -> bool:
    return broker.settings.issuer.startswith("https://")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    user: SignedIn | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = language(request)
    page = templates.get_template(template).render(
        request=request,
        user=user,
        lang=lang,
        t=lambda key: i18n.text(key, lang),
        label=lambda group, value: i18n.label(group, value, lang),
        day=lambda value: i18n.day(value, lang),
        moment=lambda value: i18n.moment(value, lang),
        euros=lambda cents: i18n.euros(cents, lang),
        path=request.url.path,
        switch_href=_switch_href(request, "en" if lang == "nl" else "nl"),
        **context,
    )
    response = HTMLResponse(page, status_code=status)
    # Pages with personal data are not cached by the browser or anything between.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            lang,
            max_age=365 * 86400,
            path="/ui",
            samesite="lax",
            httponly=True,
            secure=secure_cookies(request.app.state.broker),
        )
    return response


def _switch_href(request: Request, other: str) -> str:
    url = request.url.include_query_params(lang=other)
    return f"{url.path}?{url.query}"


def current_user(request: Request, session: Session) -> SignedIn:
    user = signed_in(session, request.cookies.get(SESSION_COOKIE), clock.now())
    if user is None:
        raise LoginRequired()
    return user


def require(user: SignedIn, kinds: frozenset[OrganisationKind]) -> None:
    if user.organisation_kind not in kinds:
        raise PageError(403, "forbidden", None)


def principal_of(user: SignedIn) -> Principal:
    """A person acts for their organisation like a client does; the audit log names the
    user by id (``user:<uuid>``), which the organisation can resolve, never by name."""
    return Principal(
        client_id=f"user:{user.user_id}",
        organisation_id=user.organisation_id,
        organisation_kind=user.organisation_kind,
        scopes=frozenset(default_scopes(user.organisation_kind)),
    )


class FormRoute(APIRoute):
    """A route of the pages whose forms prove they come from our own pages before anything
    else of them is read.

    Every unsafe request (a form post) must carry the CSRF token: the session's
    (``csrf_token``), or on the login form the one its cookie was set with (``login_csrf``,
    double submit); and an ``Origin`` header, where the browser sends one, must be our own.
    Checked here, before FastAPI validates the form's fields, so that a form without its
    token gets the same 403 page as a form with a wrong one, not a 422 about the missing
    field (nor an answer about any other field); and so that no form of the router can
    leave the check out. A post without a session goes to the login page, as any page does.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if not (self.methods or set()) & UNSAFE_METHODS:
            return handle
        before_login = self.path == LOGIN_PATH

        async def checked(request: Request) -> Response:
            # Starlette keeps the parsed form on the request: FastAPI reads this same one.
            form = await request.form()
            refusal = await run_in_threadpool(_form_refusal, request, form, before_login)
            return refusal if refusal is not None else await handle(request)

        return checked


def _form_refusal(request: Request, form: FormData, before_login: bool) -> Response | None:
    """The answer to a form that does not come from our pages, or None to go on."""
    token = form.get("login_csrf" if before_login else "csrf_token")
    given = token if isinstance(token, str) else None
    broker = request.app.state.broker
    with broker.sessions() as session:
        if before_login:
            expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        else:
            user = signed_in(session, request.cookies.get(SESSION_COOKIE), clock.now())
            if user is None:
                return _to_login(request)
            expected = user.csrf_token
        if not csrf_matches(expected, given):
            return _error_page(request, 403, "forbidden", "CSRF", session)
        origin = request.headers.get("origin")
        if origin is not None and origin != "null":
            own = f"{request.url.scheme}://{request.url.netloc}"
            if origin != own:
                return _error_page(request, 403, "forbidden", "origin", session)
    return None


def safe_next(target: str | None) -> str:
    """Only a path of our own pages: never an open redirect to somewhere else."""
    if not target:
        return "/ui/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui"):
        return "/ui/"
    return target


def redirect(target: str, *, message: str | None = None) -> RedirectResponse:
    if message:
        separator = "&" if "?" in target else "?"
        target = f"{target}{separator}saved={quote(message)}"
    return RedirectResponse(target, status_code=303)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def page(endpoint: Endpoint) -> Endpoint:
    """Turn login and error exceptions into the right response for a person in a browser.

    A service error rolls the request's transaction back; a refused disclosure's audit
    entries are then added again for the unit of work to commit (``exchange.db.roll_back``).
    """

    @functools.wraps(endpoint)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        session: Session | None = kwargs.get("session")
        try:
            return endpoint(*args, **kwargs)
        except LoginRequired:
            return _to_login(request)
        except PageError as error:
            if session is not None:
                roll_back(session, error)
            return _error_page(request, error.status, error.title_key, error.detail, session)
        except ExchangeError as error:
            # A refused disclosure keeps its audit entries; the request's unit of work
            # commits them with nothing else.
            if session is not None:
                roll_back(session, error)
            key = {403: "denied", 404: "not_found"}.get(error.status, "error")
            return _error_page(request, error.status, key, error.detail, session)

    return wrapped  # type: ignore[return-value]


def _to_login(request: Request) -> Response:
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(request.url.path)}", status_code=303)


def _error_page(
    request: Request, status: int, key: str, detail: str | None, session: Session | None
) -> Response:
    user = None
    if session is not None:
        user = signed_in(session, request.cookies.get(SESSION_COOKIE), clock.now())
    text_key = {403: "forbidden_text", 404: "not_found_text"}.get(status)
    return render(
        request,
        "error.html",
        {"title_key": key, "text_key": text_key, "detail": detail if status != 404 else None},
        user=user,
        status=status,
    )


def as_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageError(404, "not_found") from None
