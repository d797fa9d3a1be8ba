"""What every page needs: the template environment, who may open it, CSRF, errors.

Pages are rendered on the server with Jinja2 (autoescaped). Forms post back and the answer
redirects (post/redirect/get), so a reload never records a contact attempt twice.

The pages deny by default, like ``/v1`` (``exchange.auth.guards``): each route states who may
open it with ``@page(rule)``, and the route class (``PageRoute``) checks that rule before
anything of the route runs. A route without a rule is refused to everyone, signed in or not.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit

import structlog
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
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
from exchange.organisations.terms import OrganisationKind
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


def principal_of(user: SignedIn) -> Principal:
    """A person acts for their organisation like a client does; the audit log names the
    user by id (``user:<uuid>``), which the organisation can resolve, never by name."""
    return Principal(
        client_id=f"user:{user.user_id}",
        organisation_id=user.organisation_id,
        organisation_kind=user.organisation_kind,
        scopes=frozenset(default_scopes(user.organisation_kind)),
    )


@dataclass(frozen=True)
class PageRule:
    """Who may open a page: anyone (``public``: the login page, the identity provider's
    callback, the static files), or a person signed in for one of ``kinds``."""

    kinds: frozenset[OrganisationKind]
    public: bool = False

    def admits(self, user: SignedIn | None) -> bool:
        return self.public or (user is not None and user.organisation_kind in self.kinds)


_RULE = "__page_rule__"
PUBLIC = PageRule(frozenset(), public=True)


def allow(kinds: Iterable[OrganisationKind]) -> PageRule:
    """The rule of a page for people of these organisation kinds."""
    return PageRule(frozenset(kinds))


SIGNED_IN = allow(OrganisationKind)  # every person with a session, whatever their kind
CASEWORK = allow(CASEWORK_KINDS)
OVERSIGHT = allow(OVERSIGHT_KINDS)


def rule_of(endpoint: object) -> PageRule | None:
    """The rule a page (or the static files' app) declared, or None: refused to everyone."""
    rule = getattr(endpoint, _RULE, None)
    return rule if isinstance(rule, PageRule) else None


def public_files(directory: Path) -> StaticFiles:
    """The pages' static files (styles, scripts): public, and saying so like a page does."""
    files = StaticFiles(directory=directory)
    setattr(files, _RULE, PUBLIC)
    return files


class PageRoute(APIRoute):
    """A route of the pages: nothing of it runs before its rule admits the request.

    In this order, before FastAPI reads a parameter: a route without a rule (``@page``) is
    the 403 page for everyone; a public route opens to anyone; on any other, a request
    without a session goes to the login page. Then every unsafe request (a form post) must
    carry the CSRF token: the session's (``csrf_token``), or on a public form (the login
    form) the one its cookie was set with (``login_csrf``, double submit); and an ``Origin``
    header, where the browser sends one, must be our own. Last, the person's organisation
    kind must be one the rule names, else the 403 page.

    Checked here, before FastAPI validates the form's fields or the query, so that a form
    without its token gets the same 403 page as a form with a wrong one, not a 422 about the
    missing field (nor an answer about any other field); and so that no route of the router
    can leave a check out. The person found is the route's ``CurrentUser``.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        rule = rule_of(self.endpoint)
        if rule is None:
            log.warning("ui.page_without_rule", path=self.path, methods=sorted(self.methods or ()))
        unsafe = bool((self.methods or set()) & UNSAFE_METHODS)

        async def admitted(request: Request) -> Response:
            # Starlette keeps the parsed form on the request: FastAPI reads this same one.
            form = await request.form() if unsafe and rule is not None else None
            refusal = await run_in_threadpool(_refusal, request, rule, form)
            return refusal if refusal is not None else await handle(request)

        return admitted


def _refusal(request: Request, rule: PageRule | None, form: FormData | None) -> Response | None:
    """The answer to a request its page's rule does not admit, or None to go on."""
    if rule is not None and rule.public and form is None:
        return None  # nothing to look up: the login page needs no session
    broker = request.app.state.broker
    with broker.sessions() as session:
        user = signed_in(session, request.cookies.get(SESSION_COOKIE), clock.now())
        if rule is None:
            return _error_page(request, 403, "forbidden", None, user)
        if user is None and not rule.public:
            return _to_login(request)
        if form is not None:
            if rule.public:
                expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
                token = form.get("login_csrf")
            else:
                assert user is not None
                expected = user.csrf_token
                token = form.get("csrf_token")
            if not csrf_matches(expected, token if isinstance(token, str) else None):
                return _error_page(request, 403, "forbidden", "CSRF", user)
            origin = request.headers.get("origin")
            if origin is not None and origin != "null":
                own = f"{request.url.scheme}://{request.url.netloc}"
                if origin != own:
                    return _error_page(request, 403, "forbidden", "origin", user)
        if not rule.admits(user):
            return _error_page(request, 403, "forbidden", None, user)
    request.state.page_user = user
    return None


async def _current_user(request: Request) -> SignedIn:
    user: SignedIn | None = getattr(request.state, "page_user", None)
    if user is None:  # a public page asked for a person: a mistake in the page, not a login
        raise RuntimeError("CurrentUser on a page whose rule admits people without a session")
    return user


CurrentUser = Annotated[SignedIn, Depends(_current_user)]
"""The signed-in person the page's rule admitted (``PageRoute``)."""


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


def page(rule: PageRule) -> Callable[[Endpoint], Endpoint]:
    """Declare who may open a page (checked by ``PageRoute`` before it runs), and turn error
    exceptions into the right response for a person in a browser.

    A service error rolls the request's transaction back; a refused disclosure's audit
    entries are then added again for the unit of work to commit (``exchange.db.roll_back``).
    """

    def declare(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            request: Request = kwargs["request"]
            session: Session | None = kwargs.get("session")
            try:
                return endpoint(*args, **kwargs)
            except PageError as error:
                if session is not None:
                    roll_back(session, error)
                user = _user_for_error(request, session)
                return _error_page(request, error.status, error.title_key, error.detail, user)
            except ExchangeError as error:
                # A refused disclosure keeps its audit entries; the request's unit of work
                # commits them with nothing else.
                if session is not None:
                    roll_back(session, error)
                key = {403: "denied", 404: "not_found"}.get(error.status, "error")
                user = _user_for_error(request, session)
                return _error_page(request, error.status, key, error.detail, user)

        setattr(wrapped, _RULE, rule)
        return wrapped  # type: ignore[return-value]

    return declare


def _user_for_error(request: Request, session: Session | None) -> SignedIn | None:
    """Who the error page is for: the person the rule admitted, or on a public page whoever
    the session cookie names."""
    user: SignedIn | None = getattr(request.state, "page_user", None)
    if user is None and session is not None:
        user = signed_in(session, request.cookies.get(SESSION_COOKIE), clock.now())
    return user


def _to_login(request: Request) -> Response:
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(request.url.path)}", status_code=303)


def _error_page(
    request: Request, status: int, key: str, detail: str | None, user: SignedIn | None
) -> Response:
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
