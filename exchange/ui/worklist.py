"""The work list's form: what a worker typed in the queue's filters, read the way people
write it ("1.000", "€ 1.000,50", "1011 1012"), with each mistake named on its field.

The same names are the query string of ``/ui/cases`` and of a saved view (werkbakje), so a
saved view is just the link to the list it shows.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from exchange.cases import service as cases
from exchange.cases.terms import CaseStatus, Composition
from exchange.organisations.terms import PROVIDER_KINDS
from exchange.signals.terms import SignalKind

PAGE_SIZE = 50
MAX_PAGE_NUMBER = 10_000
# A worker's own list, downloaded: more than a day's work, never the whole register.
EXPORT_LIMIT = 10_000
# The parameters a view keeps; anything else in a saved query is dropped.
VIEW_PARAMS = (
    "status", "kind", "crisis", "overdue", "classification", "pc4", "amount_min",
    "amount_max", "age_band", "team", "creditor", "number", "sort", "dir",
)  # fmt: skip
_NUMBER = re.compile(r"^\d{4}-\d{4}-\d{1,6}$")
_DEFAULTS: dict[str, Any] = {"sort": cases.Sort.URGENCY.value, "dir": "asc", "page": 1}


@dataclass
class WorkList:
    """The filter for the service, what the form shows back, and what was wrong."""

    wanted: cases.QueueFilter
    chosen: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # field -> i18n key
    page: int = 1


def euros(text: str) -> int | None:
    """Whole euros from how people write an amount: ``1.000``, ``€ 1.000,50``, ``1000``.

    A dot or a space groups thousands (Dutch), a comma starts the cents (dropped: the
    queue filters on bands of hundreds of euros). Raises ValueError otherwise."""
    cleaned = text.strip().removeprefix("€").strip().replace(" ", "").replace("\u00a0", "")
    if not cleaned:
        return None
    whole = cleaned.split(",", 1)[0]
    if not re.fullmatch(r"\d{1,3}(\.\d{3})*|\d+", whole):
        raise ValueError(text)
    return int(whole.replace(".", ""))


def pc4_areas(text: str) -> tuple[int, ...]:
    """``1011``, ``1011 1012`` or ``1011, 1012``: four digits each, 1000 to 9999."""
    areas = tuple(int(part) for part in re.split(r"[\s,;]+", text.strip()) if part)
    if any(not 1000 <= area <= 9999 for area in areas):
        raise ValueError(text)
    return areas


def read(params: Mapping[str, Sequence[str]], *, rule_fields: frozenset[str]) -> WorkList:
    """The form as the worker filled it in. Filters on a field the caller's rule does not
    show are not offered, so they are dropped here rather than refused."""

    def many(name: str) -> list[str]:
        return [value for value in params.get(name, ()) if value]

    def one(name: str) -> str:
        values = many(name)
        return values[0].strip() if values else ""

    errors: dict[str, str] = {}
    statuses = tuple(s for s in many("status") if s in set(CaseStatus))
    kinds = tuple(k for k in many("kind") if k in set(SignalKind))
    classifications = tuple(c for c in many("classification") if c in set(Composition))
    creditors = tuple(c for c in many("creditor") if c in {k.value for k in PROVIDER_KINDS})
    age_bands = tuple(a for a in many("age_band") if re.fullmatch(r"[\w+-]{1,12}", a))
    teams: list[uuid.UUID] = []
    for value in many("team"):
        try:
            teams.append(uuid.UUID(value))
        except ValueError:
            errors["team"] = "error_team"
    amounts: dict[str, int | None] = {}
    for name in ("amount_min", "amount_max"):
        try:
            amounts[name] = euros(one(name))
        except ValueError:
            amounts[name] = None
            errors[name] = "error_amount"
    if (
        amounts["amount_min"] is not None
        and amounts["amount_max"] is not None
        and amounts["amount_min"] > amounts["amount_max"]
    ):
        errors["amount_max"] = "error_amount_range"
    try:
        pc4 = pc4_areas(one("pc4"))
    except ValueError:
        pc4 = ()
        errors["pc4"] = "error_pc4"
    number = one("number")
    if number and not _NUMBER.fullmatch(number):
        errors["number"] = "error_case_number"
        number = ""
    elif number:
        # Said on the phone without its zeros ("0599-2026-123"): the stored number has six.
        code, year, running = number.split("-")
        number = f"{code}-{year}-{int(running):06d}"
    sort = one("sort") or cases.Sort.URGENCY.value
    if sort not in set(cases.Sort):
        sort = cases.Sort.URGENCY.value
    descending = one("dir") == "desc"
    try:
        page = max(1, int(one("page") or "1"))
    except ValueError:
        page = 1
        errors["page"] = "error_page"
    # An offset from an old link still works; a page number is what the page makes.
    offset_text = one("offset")
    if offset_text:
        try:
            page = max(1, int(offset_text) // PAGE_SIZE + 1)
        except ValueError:
            errors["page"] = "error_page"
    if page > MAX_PAGE_NUMBER:
        page = 1
        errors["page"] = "error_page"
    crisis = one("crisis") == "yes"
    overdue = one("overdue") == "yes"

    used = {
        name
        for name, value in (
            ("case.status", statuses),
            ("kind", kinds or creditors),
            ("crisis", crisis),
            ("case.deadline", overdue),
            ("case.composition", classifications),
            ("pc4", pc4),
            ("amount_band", amounts["amount_min"] is not None or amounts["amount_max"] is not None),
            ("age_band", age_bands),
            ("case.assignments", teams),
        )
        if value
    }
    dropped = used - rule_fields
    sort_field = cases.SORT_FIELDS[cases.Sort(sort)]
    if sort_field and sort_field not in rule_fields:
        sort = cases.Sort.URGENCY.value
    wanted = cases.QueueFilter(
        statuses=statuses or cases.OPEN_STATUSES,
        kinds=kinds if "kind" not in dropped else (),
        amount_min=amounts["amount_min"] if "amount_band" not in dropped else None,
        amount_max=amounts["amount_max"] if "amount_band" not in dropped else None,
        crisis=True if crisis and "crisis" not in dropped else None,
        classifications=classifications if "case.composition" not in dropped else (),
        pc4=pc4 if "pc4" not in dropped else (),
        age_bands=age_bands if "age_band" not in dropped else (),
        overdue=True if overdue and "case.deadline" not in dropped else None,
        teams=tuple(teams) if "case.assignments" not in dropped else (),
        creditor_kinds=creditors if "kind" not in dropped else (),
        number=number or None,
        sort=cases.Sort(sort),
        descending=descending,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        used_fields=frozenset(used - dropped),
    )
    chosen = {
        "status": statuses,
        "kind": kinds,
        "classification": classifications,
        "creditor": creditors,
        "age_band": age_bands,
        "team": [str(t) for t in teams],
        "crisis": crisis,
        "overdue": overdue,
        "pc4": one("pc4"),
        "amount_min": one("amount_min"),
        "amount_max": one("amount_max"),
        "number": one("number"),
        "sort": sort,
        "dir": "desc" if descending else "asc",
    }
    return WorkList(wanted, chosen, errors, page)


def query_of(chosen: Mapping[str, Any], **changes: Any) -> str:
    """The query string for these choices (a page link, a sort link, a saved view)."""
    merged = dict(chosen) | changes
    pairs: list[tuple[str, str]] = []
    for name in (*VIEW_PARAMS, "page"):
        value = merged.get(name)
        if value in (None, "", False, (), []) or value == _DEFAULTS.get(name):
            # A default (urgency, ascending, page 1) is left out, so the plain list and a
            # saved view are known again by their link (``aria-current``).
            continue
        if value is True:
            pairs.append((name, "yes"))
        elif isinstance(value, list | tuple):
            pairs.extend((name, str(v)) for v in value)
        else:
            pairs.append((name, str(value)))
    return urlencode(pairs)


def saved_query(text: str) -> str:
    """A saved view's query, kept to the list's own parameters."""
    from urllib.parse import parse_qsl

    kept = [(k, v) for k, v in parse_qsl(text.lstrip("?"))[:100] if k in VIEW_PARAMS]
    return urlencode(kept)[:2000]


def csv_of(rows: Sequence[Mapping[str, Any]], fields: frozenset[str], lang: str) -> bytes:
    """The list as CSV for a spreadsheet: semicolons and a byte-order mark, so Excel with
    Dutch settings opens it in columns; only the columns the caller's rule shows, each
    value in the page's words."""
    from exchange.ui import i18n

    columns: list[tuple[str, str, Any]] = [
        ("case_number", "", lambda r: r.get("number") or r["id"]),
        ("status", "case.status", lambda r: i18n.label("status", r.get("status"), lang)),
        (
            "classification",
            "case.composition",
            lambda r: i18n.label("classification", r.get("classification"), lang),
        ),
        (
            "kind",
            "kind",
            lambda r: ", ".join(i18n.label("kind", k, lang) for k in r.get("kinds", [])),
        ),
        (
            "creditor",
            "kind",
            lambda r: ", ".join(
                i18n.label("organisation_kind", k, lang) for k in r.get("creditor_kinds", [])
            ),
        ),
        ("amount", "amount_band", lambda r: ", ".join(r.get("amount_bands", []))),
        ("age_band", "age_band", lambda r: ", ".join(r.get("age_bands", []))),
        ("street", "address.street", lambda r: r.get("street") or ""),
        ("neighbourhood", "pc4|address.postcode", lambda r: r.get("pc4") or ""),
        ("team", "case.assignments", lambda r: ", ".join(r.get("teams", []))),
        ("deadline", "case.deadline", lambda r: r.get("deadline") or ""),
        ("opened", "", lambda r: i18n.day(r.get("opened_at"), lang)),
    ]
    shown = [
        (key, value)
        for key, needs, value in columns
        if not needs or any(name in fields for name in needs.split("|"))
    ]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([i18n.text(key, lang) for key, _ in shown])
    for row in rows:
        writer.writerow([_cell(value(row)) for _, value in shown])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ would run as a formula
    (CSV injection), so it gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
