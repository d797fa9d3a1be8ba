"""The register's terms in words a person reads: ISO 8601 durations as "zes maanden".

A retention period is written in the register as an ISO 8601 duration (``P6M``), which is
exact for a machine and opaque to the person it is about. :func:`duration_words` says it in
Dutch or English: ``P6M`` is "zes maanden" / "six months", ``P1Y6M`` is "één jaar en zes
maanden" / "one year and six months". Numbers up to twenty are written out, larger ones
in digits ("30 dagen"), as Dutch style guides advise for running text.
"""

from __future__ import annotations

import re
from typing import Final

# The durations the register schema allows (policies/schema/register.schema.json).
_DURATION: Final = re.compile(r"^P(?=\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")

_NUMBERS: Final = {
    "nl": (
        "nul", "één", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen", "tien",
        "elf", "twaalf", "dertien", "veertien", "vijftien", "zestien", "zeventien", "achttien",
        "negentien", "twintig",
    ),
    "en": (
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen", "twenty",
    ),
}  # fmt: skip
# Per unit of the duration, in its order: (singular, plural). Dutch counts years in "jaar".
_UNITS: Final = {
    "nl": (("jaar", "jaar"), ("maand", "maanden"), ("week", "weken"), ("dag", "dagen")),
    "en": (("year", "years"), ("month", "months"), ("week", "weeks"), ("day", "days")),
}
_AND: Final = {"nl": "en", "en": "and"}


def number_words(number: int, language: str) -> str:
    """A count as a reader expects it in running text: words up to twenty, then digits."""
    if number < 0:
        raise ValueError(f"not a count: {number}")
    words = _NUMBERS[_language(language)]
    return words[number] if number < len(words) else str(number)


def duration_words(duration: str, language: str) -> str:
    """An ISO 8601 duration of the register (``P6M``, ``P1Y6M``, ``P30D``) in words.

    ``language`` is ``"nl"`` or ``"en"``. Raises ``ValueError`` for anything that is not a
    duration in years, months, weeks and days (the only kind the register allows).
    """
    match = _DURATION.match(duration)
    if match is None:
        raise ValueError(f"not an ISO 8601 duration in years, months, weeks and days: {duration!r}")
    lang = _language(language)
    counts = [int(part) if part else 0 for part in match.groups()]
    parts = [
        f"{number_words(count, lang)} {singular if count == 1 else plural}"
        for count, (singular, plural) in zip(counts, _UNITS[lang], strict=True)
        if count
    ]
    if not parts:  # P0D and the like: no time at all
        return f"{number_words(0, lang)} {_UNITS[lang][-1][1]}"
    if len(parts) == 1:
        return parts[0]
    return f"{', '.join(parts[:-1])} {_AND[lang]} {parts[-1]}"


def _language(language: str) -> str:
    if language not in _NUMBERS:
        raise ValueError(f"no words for language {language!r} (nl or en)")
    return language
