"""The GDPR art. 15 access report as a letter to the person: printable HTML with nothing of
the app around it (no menu, no forms, no token; its styles in the document, so it renders
offline), and the same letter as a PDF.

Plain words (B1: short sentences, "u"), Dutch first, English available. The page that shows
the report to the privacy officer uses the same words (:func:`text`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from exchange.auditlog.schemas import AccessReport
from exchange.clock import local_date
from exchange.identity.schemas import Person
from exchange.pdf import LetterFile, html_to_pdf
from exchange.rights.report import long_date

Language = Literal["nl", "en"]
LANGUAGES: Final = ("nl", "en")

TEXTS: Final[dict[str, tuple[str, str]]] = {
    "title": ("Inzage in uw gegevens", "Access to your personal data"),
    "subtitle": (
        "Antwoord op uw verzoek om inzage (AVG, artikel 15)",
        "Reply to your request for access (GDPR, article 15)",
    ),
    "sender": ("Signalenuitwisseling schulden", "Signal exchange for payment arrears"),
    "date": ("Datum", "Date"),
    "about": ("Over", "About"),
    "name": ("Naam", "Name"),
    "birth_date": ("Geboortedatum", "Date of birth"),
    "bsn": ("BSN", "BSN"),
    "bsn_masked": (
        "Wij tonen alleen de laatste 4 cijfers van uw BSN.",
        "We only show the last 4 digits of your BSN.",
    ),
    "greeting": ("Beste {name},", "Dear {name},"),
    "greeting_anonymous": ("Beste meneer of mevrouw,", "Dear Sir or Madam,"),
    "intro": (
        "U wilde weten welke gegevens wij over u hebben. En aan wie wij die gaven. "
        "Dat is uw recht. In deze brief leest u het antwoord.",
        "You asked which data we hold about you, and to whom we gave it. "
        "That is your right. This letter gives you the answer.",
    ),
    "who_we_are": (
        "Wij zijn de signalenuitwisseling. Woningcorporaties, energiebedrijven, "
        "drinkwaterbedrijven en zorgverzekeraars melden ons als iemand een "
        "betalingsachterstand heeft. Wij geven dat door aan de gemeente. "
        "Dan kan de gemeente u op tijd hulp aanbieden.",
        "We are the signal exchange. Housing corporations, energy companies, water "
        "companies and health insurers tell us when someone is behind with payments. "
        "We pass this on to the municipality. Then the municipality can offer you help in time.",
    ),
    "h_searched": ("Waarop wij zochten", "What we searched by"),
    "h_sources": ("Van wie wij uw gegevens kregen", "Where your data came from"),
    "sources_intro": (
        "Deze organisaties stuurden ons een melding over u:",
        "These organisations sent us a report about you:",
    ),
    "no_sources": ("Wij hebben nu geen meldingen over u.", "We hold no reports about you now."),
    "h_held": ("Wat wij bewaren en tot wanneer", "What we keep and until when"),
    "held_intro": (
        "Dit bewaren wij nu over u. Na de genoemde datum wissen wij het.",
        "This is what we keep about you now. After the date given, we delete it.",
    ),
    "no_held": ("Wij bewaren nu geen gegevens over u.", "We keep no data about you now."),
    "h_groups": ("Aan wie wij uw gegevens gaven", "Who received your data"),
    "groups_intro": (
        "Elke keer dat een organisatie uw gegevens krijgt of bekijkt, schrijven wij dat op. "
        "Hieronder ziet u dat per organisatie en per doel. U ziet ook hoe vaak en wanneer.",
        "Each time an organisation receives or views your data, we write it down. "
        "Below you see this per organisation and purpose, with how often and when.",
    ),
    "no_groups": (
        "Wij gaven uw gegevens aan niemand.",
        "We did not give your data to anyone.",
    ),
    "refusals": (
        "{n} keer vroeg een organisatie om uw gegevens, maar dat mocht niet. "
        "Die organisatie kreeg toen niets.",
        "{n} time(s) an organisation asked for your data, but this was not allowed. "
        "That organisation received nothing.",
    ),
    "col_recipient": ("Organisatie", "Organisation"),
    "col_purpose": ("Waarvoor", "What for"),
    "col_basis": ("Waarom het mag", "Why it is allowed"),
    "col_what": ("Welke gegevens", "Which data"),
    "col_period": ("Wanneer", "When"),
    "col_count": ("Hoe vaak", "How often"),
    "h_rights": ("Uw rechten", "Your rights"),
    "rights": (
        "Klopt er iets niet? Dan mag u ons vragen om het te verbeteren. U mag ook vragen om "
        "uw gegevens te wissen. Of om ze een tijd niet te gebruiken. Bent u het niet eens met "
        "wat wij met uw gegevens doen? Dan kunt u een klacht indienen bij de Autoriteit "
        "Persoonsgegevens (autoriteitpersoonsgegevens.nl).",
        "Is something wrong? Then you may ask us to correct it. You may also ask us to delete "
        "your data, or to stop using it for a while. Do you disagree with what we do with "
        "your data? Then you can complain to the Dutch Data Protection Authority "
        "(autoriteitpersoonsgegevens.nl).",
    ),
    "h_check": ("Controle", "Verification"),
    "check": (
        "Deze brief komt uit ons logboek. Niemand kan dat logboek ongemerkt veranderen. "
        "Met de gegevens hieronder kan een controleur later nagaan dat deze brief klopt.",
        "This letter comes from our log. No one can change that log without it being noticed. "
        "With the details below, an auditor can check later that this letter is correct.",
    ),
    "tree_size": ("Aantal regels in het logboek", "Number of entries in the log"),
    "root_hash": ("Vingerafdruk van het logboek (root hash)", "Fingerprint of the log (root hash)"),
    "made_at": ("Gemaakt op", "Made on"),
    "closing": ("Met vriendelijke groet,", "Kind regards,"),
    "signature": ("De functionaris gegevensbescherming", "The data protection officer"),
    "page": ("Pagina", "Page"),
    # The privacy officer's page of the report, around the same sections.
    "report_person": ("Gezocht voor", "Searched for"),
    "ambiguous_officer": (
        "Naam en geboortedatum horen bij meer dan één persoon met een BSN. Dit overzicht "
        "toont alleen wat alleen met die naam kwam. Vraag de persoon om het BSN om de rest "
        "te vinden.",
        "The name and birth date belong to more than one person known by a BSN. This report "
        "shows only what came with that name alone. Ask the person for their BSN to find "
        "the rest.",
    ),
    "letter_pdf": ("Brief (PDF)", "Letter (PDF)"),
    "letter_html": ("Brief (HTML, printbaar)", "Letter (HTML, printable)"),
    "each_disclosure": ("Elke verstrekking apart", "Each disclosure"),
}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def language(value: str | None) -> Language:
    """The letter's language: English when asked for, else Dutch."""
    return "en" if value == "en" else "nl"


def text(key: str, lang: str) -> str:
    nl, en = TEXTS[key]
    return en if lang == "en" else nl


def full_name(person: Person) -> str | None:
    """The person's name as the request gave it (initials, prefix, surname)."""
    parts = [person.initials, person.surname_prefix, person.surname]
    name = " ".join(p.strip() for p in parts if p and p.strip())
    return name or None


def masked_bsn(bsn: str | None) -> str | None:
    """A BSN with all but its last 4 digits hidden: a letter may go by post."""
    return None if bsn is None else "•" * (len(bsn) - 4) + bsn[-4:]


def letter_html(
    report: AccessReport, person: Person, lang: str, *, sender: str | None = None
) -> str:
    """The letter as one standalone HTML document: no links out, no scripts, styles inside."""
    chosen = language(lang)
    name = full_name(person)
    birth = person.birth_date
    return _templates.get_template("access_letter.html").render(
        report=report,
        lang=chosen,
        t=lambda key: text(key, chosen),
        day=lambda value: long_date(value, chosen),
        name=name,
        birth_date=long_date(birth, chosen) if birth else None,
        bsn=masked_bsn(person.bsn),
        greeting=(
            text("greeting", chosen).format(name=name)
            if name
            else text("greeting_anonymous", chosen)
        ),
        refusals=text("refusals", chosen).format(n=report.refusals),
        sender=sender or text("sender", chosen),
        made_on=long_date(local_date(report.generated_at), chosen),
    )


def letter_pdf(html: str) -> bytes:
    """The letter as a PDF, from its HTML (``exchange.pdf``: nothing is fetched)."""
    return html_to_pdf(html)


def letter_file(
    report: AccessReport, person: Person, lang: str, format: str, *, sender: str | None = None
) -> LetterFile:
    """The letter in a format: ``pdf`` or ``html``."""
    html = letter_html(report, person, lang, sender=sender)
    name = f"inzage-{local_date(report.generated_at).isoformat()}"
    if format == "pdf":
        return LetterFile(letter_pdf(html), "application/pdf", f"{name}.pdf")
    return LetterFile(html.encode("utf-8"), "text/html; charset=utf-8", f"{name}.html")
