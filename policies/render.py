"""The register of processing as a readable document, in Markdown or as an HTML page.

Both renderings come from one outline (headings, paragraphs, tables), so they always say
the same thing. The HTML page is self-contained (inline style, no scripts, no external
resources) and escapes every value taken from the register.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from policies.engine import Register

LEGAL_BASES = {
    "eu-gdpr:A6-1-a": "consent (AVG art. 6(1)(a))",
    "eu-gdpr:A6-1-b": "contract (AVG art. 6(1)(b))",
    "eu-gdpr:A6-1-c": "legal obligation (AVG art. 6(1)(c))",
    "eu-gdpr:A6-1-d": "vital interests (AVG art. 6(1)(d))",
    "eu-gdpr:A6-1-e": "public task (AVG art. 6(1)(e))",
    "eu-gdpr:A6-1-f": "legitimate interests (AVG art. 6(1)(f))",
}
PSEUDONYMS = {
    "recipient": "its own pseudonym (cannot be joined with another recipient's)",
    "broker": "the broker's pseudonym (oversight only)",
    "none": "no pseudonym",
}


@dataclass
class _Section:
    heading: str
    level: int
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)


def render_markdown(register: Register) -> str:
    """The register as Markdown, for a privacy officer to read or publish."""
    lines: list[str] = []
    for section in _outline(register):
        lines += ["#" * section.level + " " + section.heading, ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for header, rows in section.tables:
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            for row in rows:
                lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_html(register: Register) -> str:
    """The register as one self-contained HTML page; every register value is escaped."""
    body: list[str] = []
    for section in _outline(register):
        level = min(section.level, 6)
        body.append(f"<h{level}>{html.escape(section.heading)}</h{level}>")
        body.extend(f"<p>{html.escape(paragraph)}</p>" for paragraph in section.paragraphs)
        for header, rows in section.tables:
            body.append("<table>")
            body.append(
                "<thead><tr>"
                + "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
                + "</tr></thead><tbody>"
            )
            for row in rows:
                body.append(
                    "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                )
            body.append("</tbody></table>")
    title = html.escape(register.title["en"])
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}"
        "table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #999;"
        "padding:.3rem .5rem;text-align:left;vertical-align:top}</style>\n"
        "</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _outline(register: Register) -> list[_Section]:
    kind_names = {kind.id: kind.name["en"] for kind in register.recipient_kinds}
    category_fields = {category.id: category.fields for category in register.categories}
    top = _Section(
        register.title["en"],
        1,
        [
            register.title["nl"],
            f"Version {register.version}; version hash {register.version_hash}.",
            f"Controller: {register.controller}.",
            "Nothing is disclosed unless a rule below allows it. An objection (AVG art. 21) "
            "or a refusal recorded by the provider (Besluit gemeentelijke "
            "schuldhulpverlening art. 2 sub d) stops every disclosure.",
        ],
    )
    if register.eligibility:
        top.paragraphs.append(
            f"Which signals are accepted is set by {register.eligibility} "
            f"(version {register.eligibility_version})."
        )
    sections = [top]
    for purpose in register.purposes:
        section = _Section(
            f"{purpose.name['en']} ({purpose.name['nl']})",
            2,
            [
                f"Id: {purpose.id} ({purpose.uri})",
                purpose.description["en"],
                purpose.description["nl"],
                "Legal basis: "
                + "; ".join(LEGAL_BASES.get(basis, basis) for basis in purpose.legal_basis)
                + (
                    f". National basis: {purpose.national_basis}."
                    if purpose.national_basis
                    else "."
                ),
                f"Retention: {purpose.retention_period} from {purpose.retention_starts}.",
            ],
        )
        section.tables.append(
            (
                ["data category", "fields"],
                [
                    [category, ", ".join(category_fields.get(category, ()))]
                    for category in purpose.categories
                ],
            )
        )
        rows = [
            [
                rule.id,
                ", ".join(kind_names.get(kind, kind) for kind in rule.recipient_kinds),
                ", ".join(rule.actions),
                "yes" if rule.consent_required else "no",
                PSEUDONYMS.get(rule.pseudonym, rule.pseudonym),
                ", ".join(sorted(rule.fields))
                + (
                    f" (feedback codes: {', '.join(sorted(rule.feedback_codes))})"
                    if rule.feedback_codes
                    else ""
                )
                + (
                    f" (counts only, groups of at least {rule.min_group_size})"
                    if rule.aggregates_only
                    else ""
                ),
            ]
            for rule in register.rules
            if rule.purpose == purpose.id
        ]
        section.tables.append(
            (["rule", "recipients", "actions", "consent needed", "pseudonym", "fields"], rows)
        )
        sections.append(section)
    sections.append(
        _Section(
            "Recipient kinds",
            2,
            tables=[
                (
                    ["id", "name", "provider"],
                    [
                        [k.id, f"{k.name['en']} / {k.name['nl']}", "yes" if k.provider else "no"]
                        for k in register.recipient_kinds
                    ],
                )
            ],
        )
    )
    sections.append(
        _Section(
            "Feedback codes a provider may see",
            2,
            tables=[
                (
                    ["code", "meaning"],
                    [
                        [code, f"{name['en']} / {name['nl']}"]
                        for code, name in register.feedback_codes.items()
                    ],
                )
            ],
        )
    )
    sections.append(
        _Section(
            "Fields",
            2,
            tables=[
                (
                    ["field", "source", "description"],
                    [[f.id, f.source, f.description] for f in register.fields],
                )
            ],
        )
    )
    return sections
