"""Structured logging with structlog: named events, ids and pseudonyms only.

``scrub_personal_data`` runs on every event, from our code and from libraries (uvicorn,
SQLAlchemy) alike. It drops fields whose names say they hold personal data and masks
values that look like a BSN, an e-mail address, a phone number or a postcode, so that a
careless log call cannot leak what the broker exists to protect.

Exceptions are logged by type and place, never by message: the message of a database
error quotes the statement and its parameters (pseudonyms, search values), and that of a
validation error may quote the input. ``format_exception`` renders the frames only.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import structlog

PERSONAL_FIELDS = frozenset(
    {
        "bsn",
        "initials",
        "surname",
        "surname_prefix",
        "birth_date",
        "person",
        "address",
        "street",
        "postcode",
        "house_number",
        "house_number_addition",
        "city",
        "contact",
        "phone",
        "email",
        "amount",
        "amount_cents",
        "note",
        "client_secret",
        "password",
    }
)
REMOVED = "[removed]"
# A log value longer than this keeps its head and tail: no event needs more (a traceback of
# frames is a few kilobytes), and a value a client chose (a URL, a header) cannot make every
# later processor and the log store work on megabytes.
MAX_VALUE_CHARS = 16 * 1024
# Every pattern runs in time linear in the text: a log line may quote anything a client
# sent (a URL, a header), so a pattern that backtracks is a way to stall the broker. Each
# pattern either matches a bounded length at each position (BSN, phone, postcode) or starts
# only where a token starts and never gives back what it took (e-mail: the local part may
# only begin after a separator, and its run is possessive), so no position is rescanned.
# tests/test_privacy.py holds them to that on texts of 100,000 characters.
_PATTERNS = (
    re.compile(r"(?<![\w-])\d{9}(?![\w-])"),  # BSN
    re.compile(r"(?<![^@\s\"'])[^@\s\"']++@[^@\s\"']+\.[a-zA-Z]{2,}"),  # e-mail
    re.compile(r"(?:\+31|0031|\b0)[1-9](?:[ -]?\d){8}\b"),  # Dutch phone number
    re.compile(r"\b[1-9]\d{3} ?[A-Z]{2}\b"),  # postcode
)


def scrub_personal_data(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in PERSONAL_FIELDS:
            event[key] = REMOVED
        else:
            event[key] = _scrub_value(event[key])
    return event


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        value = _shortened(value)
        for pattern in _PATTERNS:
            value = pattern.sub(REMOVED, value)
        return value
    if isinstance(value, dict):
        return {
            k: REMOVED if str(k).lower() in PERSONAL_FIELDS else _scrub_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub_value(v) for v in value]
    return value


def _shortened(text: str) -> str:
    if len(text) <= MAX_VALUE_CHARS:
        return text
    half = MAX_VALUE_CHARS // 2
    return f"{text[:half]}[{len(text) - 2 * half} characters cut]{text[-half:]}"


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def format_exception(exc_info: ExcInfo) -> str:
    """A traceback with every frame and exception type, and no exception's message.

    Causes and contexts are followed and printed in the order Python prints them. What a
    message would have said is left to the frames: the file, line and code that raised it.
    """
    # (error, how it leads to the error after it), from the last error back to the first.
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    error: BaseException | None = exc_info[1]
    leads_on = ""
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append((error, leads_on))
        if error.__cause__ is not None:
            leads_on = "\nThe above exception was the direct cause of the following exception:\n\n"
            error = error.__cause__
        elif error.__context__ is not None and not error.__suppress_context__:
            leads_on = "\nDuring handling of the above exception, another exception occurred:\n\n"
            error = error.__context__
        else:
            error = None
    parts = []
    for error, leads_on in reversed(chain):
        stack = traceback.StackSummary.extract(traceback.walk_tb(error.__traceback__))
        parts.append(
            "Traceback (most recent call last):\n"
            + "".join(stack.format())
            + f"{type(error).__module__}.{type(error).__qualname__} (message not logged)\n"
            + leads_on
        )
    return "".join(parts).rstrip("\n")


_format_exc_info = structlog.processors.ExceptionRenderer(format_exception)


def configure_logging(log_format: str = "console", level: str = "INFO") -> None:
    """Route structlog and the standard library through one scrubbing pipeline."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _format_exc_info,
        scrub_personal_data,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared[:-2],
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared[:-2],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _format_exc_info,
            scrub_personal_data,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
