"""Structured logging with structlog: named events, ids and pseudonyms only.

``scrub_personal_data`` runs on every event, from our code and from libraries (uvicorn,
SQLAlchemy) alike. It drops fields whose names say they hold personal data and masks
values that look like a BSN, an e-mail address, a phone number or a postcode, so that a
careless log call cannot leak what the broker exists to protect.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
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
_PATTERNS = (
    re.compile(r"(?<![\w-])\d{9}(?![\w-])"),  # BSN
    re.compile(r"[^@\s\"']+@[^@\s\"']+\.[a-zA-Z]{2,}"),  # e-mail
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


def configure_logging(log_format: str = "console", level: str = "INFO") -> None:
    """Route structlog and the standard library through one scrubbing pipeline."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
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
            structlog.processors.format_exc_info,
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
