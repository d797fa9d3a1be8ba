"""The municipality's overview as a page and as a CSV file, in the reader's words.

Both are made from one list of sections (``sections``), so the export says exactly what the
page says: the same groups, and a suppressed figure as the same words ("te weinig om te
tonen"), never a number or "< 10" (which reads as "under 10 days" beside a median).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from exchange.fields import within_window
from exchange.reports.period import MAX_DAYS
from exchange.ui import charts, i18n
from policies.words import number_words


@dataclass(frozen=True)
class Row:
    """One line of a section: the group it is about (one cell per heading), its figure and,
    for a rate or a median, how many cases it is over."""

    groups: tuple[str, ...]
    value: str
    basis: str = ""


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    headings: tuple[str, ...]
    value_heading: str
    rows: list[Row]
    intro: str = ""
    with_basis: bool = False


@dataclass(frozen=True)
class PeriodAsked:
    """The period of the URL, or what is wrong with it, per field (an i18n key)."""

    first: dt.date | None
    last: dt.date | None
    typed: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def read_period(start: str, end: str, today: dt.date) -> PeriodAsked:
    """The period asked for (from the first of January to today when nothing is asked),
    checked as the report checks it (``reports.period``), the errors in the page's words."""
    typed = {"from": start, "to": end}
    errors: dict[str, str] = {}
    days: dict[str, dt.date] = {}
    defaults = {"from": today.replace(month=1, day=1), "to": today}
    for name, value in typed.items():
        if not value.strip():
            days[name] = defaults[name]
            continue
        try:
            days[name] = dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            errors[name] = "overview_error_date"
            continue
        try:
            within_window(days[name])
        except ValueError:
            errors[name] = "overview_error_window"
    if not errors:
        if days["from"] > days["to"]:
            errors["from"] = "overview_error_order"
        elif (days["to"] - days["from"]).days + 1 > MAX_DAYS:
            errors["to"] = "overview_error_length"
    if errors:
        return PeriodAsked(None, None, typed, errors)
    first, last = days["from"], days["to"]
    return PeriodAsked(first, last, {"from": first.isoformat(), "to": last.isoformat()})


def page_context(figures: dict[str, Any] | None, asked: PeriodAsked, lang: str) -> dict[str, Any]:
    """What overview.html needs: the form as typed, its errors, and the figures if any."""
    context: dict[str, Any] = {
        "typed": asked.typed,
        "errors": asked.errors,
        "figures": figures,
        "sections": [],
        "charts": {},
    }
    if figures is None:
        return context
    minimum = int(figures["min_group_size"])
    context.update(
        sections=sections(figures, lang),
        charts={
            "per_month": charts.stacked_months(figures, lang),
            "channels": charts.channels(figures, lang),
        },
        intro=i18n.text("overview_intro_groups", lang).format(n=number_words(minimum, lang)),
        csv_href="/ui/overview.csv?" + urlencode(asked.typed),
    )
    return context


def sections(figures: Mapping[str, Any], lang: str) -> list[Section]:
    """The overview's figures as the page shows them and the export writes them."""
    t = _words(lang)
    key_figures = Section(
        "key",
        t("overview_key_figures"),
        (t("overview_csv_group"),),
        t("overview_csv_value"),
        [
            Row((t("signals"),), _count(figures["signals"], lang)),
            Row((t("overview_cases_total"),), _count(figures["cases"], lang)),
            _rate_row(t("reach_rate"), figures["reach_rate"], lang),
            _rate_row(t("acceptance_rate"), figures["acceptance_rate"], lang),
            _median_row(t("median_days"), figures["median_days_to_first_contact_attempt"], lang),
            _rate_row(t("share_overdue"), figures["share_overdue"], lang),
        ],
        with_basis=True,
    )
    made = [
        key_figures,
        Section(
            "months",
            t("signals_per_month"),
            (t("overview_month"), t("kind")),
            t("overview_count_signals"),
            [
                Row(
                    (_month(g["month"], lang), i18n.label("kind", g["kind"], lang)), _count(g, lang)
                )
                for g in figures["signals"]["per_month_and_kind"]
            ],
        ),
        Section(
            "channels",
            t("channels_reached"),
            (t("overview_channel"),),
            t("overview_count_attempts"),
            [
                Row((i18n.label("channel", g["channel"], lang),), _count(g, lang))
                for g in figures["channels_reached"]
            ],
        ),
    ]
    breakdowns = figures.get("breakdowns") or {}
    if "team" in breakdowns:
        made.append(
            Section(
                "team",
                t("overview_by_team"),
                (t("organisation"),),
                t("overview_count_cases"),
                [
                    Row((g["name"] or t("overview_team_none"),), _count(g, lang))
                    for g in breakdowns["team"]
                ],
                intro=t("overview_by_team_intro"),
            )
        )
    if "pc4" in breakdowns:
        made.append(
            Section(
                "pc4",
                t("overview_by_pc4"),
                (t("overview_pc4"),),
                t("overview_count_cases"),
                [
                    Row((g["pc4"] or t("overview_pc4_none"),), _count(g, lang))
                    for g in breakdowns["pc4"]
                ],
            )
        )
    if "result" in breakdowns:
        made.append(
            Section(
                "result",
                t("overview_by_result"),
                (t("result"),),
                t("overview_count_cases"),
                [
                    Row(
                        (
                            i18n.label("result", g["result_code"], lang)
                            if g["result_code"]
                            else t("overview_result_none"),
                        ),
                        _count(g, lang),
                    )
                    for g in breakdowns["result"]
                ],
            )
        )
    return made


def csv_of(figures: Mapping[str, Any], lang: str) -> bytes:
    """The overview as Dutch Excel opens it: UTF-8 with a byte order mark, ``;`` between
    cells, one line per figure (section, group, value, the cases a rate is over)."""
    t = _words(lang)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        [t("overview_csv_section"), t("overview_csv_group"), t("overview_csv_value"),
         t("overview_csv_basis")]
    )  # fmt: skip
    about = t("overview_csv_about")
    writer.writerow([about, t("overview_csv_municipality"), figures["gemeentecode"] or "", ""])
    writer.writerow([about, t("from"), i18n.day(figures["from"], lang), ""])
    writer.writerow([about, t("to"), i18n.day(figures["to"], lang), ""])
    writer.writerow([about, t("overview_csv_minimum"), str(figures["min_group_size"]), ""])
    for section in sections(figures, lang):
        for row in section.rows:
            writer.writerow(
                [_cell(section.title), _cell(", ".join(row.groups)), row.value, row.basis]
            )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def csv_filename(figures: Mapping[str, Any]) -> str:
    return (
        f"overzicht-{figures['gemeentecode'] or 'gemeente'}-{figures['from']}-{figures['to']}.csv"
    )


def _words(lang: str) -> Callable[[str], str]:
    def text(key: str) -> str:
        return i18n.text(key, lang)

    return text


def _count(value: Mapping[str, Any], lang: str) -> str:
    if value["suppressed"]:
        return i18n.text("suppressed", lang)
    return _number(value["count"], lang)


def _rate_row(name: str, value: Mapping[str, Any], lang: str) -> Row:
    if value["suppressed"]:
        return Row((name,), i18n.text("suppressed", lang))
    return Row((name,), f"{value['rate'] * 100:.0f}%", _number(value["denominator"], lang))


def _median_row(name: str, value: Mapping[str, Any], lang: str) -> Row:
    if value["suppressed"]:
        return Row((name,), i18n.text("suppressed", lang))
    days = value["days"]
    shown = f"{days:g}" if isinstance(days, float) else str(days)
    if lang == "nl":
        shown = shown.replace(".", ",")
    return Row((name,), shown, _number(value["cases"], lang))


def _number(value: int, lang: str) -> str:
    """1.234 in Dutch, 1,234 in English."""
    shown = f"{value:,}"
    return shown.replace(",", ".") if lang == "nl" else shown


def _month(month: str, lang: str) -> str:
    """2026-03 as "maart 2026" (Dutch) or "March 2026"."""
    year, number = (int(part) for part in month.split("-"))
    if lang == "nl":
        return f"{i18n.MONTHS_NL[number - 1]} {year}"
    return dt.date(year, number, 1).strftime("%B %Y")


def _cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ would run as a formula
    (an organisation's name is typed by people)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
