"""Charts as inline SVG, drawn on the server: no chart library, no script, prints well.

Each chart has a title and a description for screen readers, and the page shows the same
figures in a table beside it. Suppressed groups (fewer than the rule's minimum) are drawn
as an empty, dashed bar marked "te weinig om te tonen" ("too few to show"), never as their
number.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from markupsafe import Markup, escape

from exchange.ui import i18n

# Colours with at least 3:1 contrast against white (WCAG 2.1 non-text contrast), and
# distinguishable for the common forms of colour blindness (Okabe-Ito palette).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
WIDTH, BAR_AREA = 640, 220


def stacked_months(figures: dict[str, Any], lang: str) -> Markup:
    """Signals per month, stacked by kind."""
    months: dict[str, dict[str, int | None]] = defaultdict(dict)
    for group in figures["signals"]["per_month_and_kind"]:
        months[group["month"]][group["kind"]] = group["count"]
    if all(count is None for groups in months.values() for count in groups.values()):
        return Markup("")  # nothing to draw: the table beside it says "too few to show"
    kinds = sorted({kind for groups in months.values() for kind in groups})
    colour = {kind: PALETTE[i % len(PALETTE)] for i, kind in enumerate(kinds)}
    totals = [sum(v or 0 for v in groups.values()) for groups in months.values()]
    top = max([*totals, 1])
    slot = (WIDTH - 60) / len(months)
    bar = min(48.0, slot * 0.7)
    title = i18n.text("signals_per_month", lang)
    description = i18n.text("overview_chart_months", lang).format(
        months=len(months), kinds=len(kinds)
    )
    parts = [_open(title, description, BAR_AREA + 70)]
    too_few = escape(i18n.text("suppressed", lang))
    for index, (month, groups) in enumerate(sorted(months.items())):
        x = 50 + index * slot + (slot - bar) / 2
        y: float = BAR_AREA + 10
        for kind in kinds:
            if kind not in groups:
                continue
            count = groups[kind]
            if count is None:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y - 14:.1f}" width="{bar:.1f}" height="14" '
                    f'fill="none" stroke="{colour[kind]}" stroke-dasharray="3 2"><title>'
                    f"{escape(month)} {escape(i18n.label('kind', kind, lang))}: {too_few}"
                    "</title></rect>"
                )
                y -= 14
                continue
            height = count / top * BAR_AREA
            y -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{colour[kind]}"><title>{escape(month)} '
                f"{escape(i18n.label('kind', kind, lang))}: {count}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{BAR_AREA + 28}" text-anchor="middle" '
            f'font-size="12">{escape(month)}</text>'
        )
    for i, kind in enumerate(kinds):
        lx = 50 + i * 110
        parts.append(
            f'<rect x="{lx}" y="{BAR_AREA + 44}" width="12" height="12" fill="{colour[kind]}"/>'
            f'<text x="{lx + 16}" y="{BAR_AREA + 54}" font-size="12">'
            f"{escape(i18n.label('kind', kind, lang))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape())


def channels(figures: dict[str, Any], lang: str) -> Markup:
    """Which channels reached people, as horizontal bars."""
    rows = figures.get("channels_reached") or []
    if not rows:
        return Markup("")
    top = max([r["count"] or 0 for r in rows] + [1])
    height = 30 * len(rows) + 20
    title = i18n.text("channels_reached", lang)
    parts = [_open(title, i18n.text("overview_chart_channels", lang).format(n=len(rows)), height)]
    for index, row in enumerate(rows):
        y = 10 + index * 30
        name = escape(i18n.label("channel", row["channel"], lang))
        parts.append(f'<text x="150" y="{y + 15}" text-anchor="end" font-size="13">{name}</text>')
        if row["count"] is None:
            parts.append(
                f'<rect x="160" y="{y}" width="40" height="20" fill="none" stroke="#0072B2" '
                f'stroke-dasharray="3 2"/><text x="206" y="{y + 15}" font-size="12">'
                f"{escape(i18n.text('suppressed', lang))}</text>"
            )
            continue
        width = row["count"] / top * (WIDTH - 220)
        parts.append(
            f'<rect x="160" y="{y}" width="{width:.1f}" height="20" fill="#0072B2"/>'
            f'<text x="{166 + width:.1f}" y="{y + 15}" font-size="12">{row["count"]}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape())


def _open(title: str, description: str, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="t-{id(title)} d-{id(title)}" class="chart">'
        f'<title id="t-{id(title)}">{escape(title)}</title>'
        f'<desc id="d-{id(title)}">{escape(description)}</desc>'
    )
