"""Normalising identities before they are hashed, so that one person or one address written
in different ways meets itself: "Dijk, van", "van Dijk" and "Dïjk" all become ``vandijk``.
"""

from __future__ import annotations

import datetime as dt
import unicodedata


def fold(text: str) -> str:
    """Strip diacritics, case-fold and keep letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in bare.casefold() if ch.isalnum())


def full_surname(surname: str, prefix: str | None = None) -> str:
    """The surname with its prefix (tussenvoegsel), whichever way round it was written.

    Registers write "Dijk, van"; letters write "van Dijk"; some systems put "van" in a
    separate field. All three read the same once the comma form is turned round and the
    spaces are gone, which is why the prefix is not looked up in a list of known ones.
    """
    if "," in surname:
        last, _, leading = surname.partition(",")
        surname = f"{leading} {last}"
    return fold(f"{prefix or ''} {surname}")


def first_initial(initials: str | None) -> str:
    """Only the first initial: providers write "A.", "A.J." or "Anna" for the same person."""
    folded = fold(initials or "")
    return folded[:1]


def person_key(
    *, initials: str | None, surname_prefix: str | None, surname: str, birth_date: dt.date
) -> str:
    return "|".join(
        (first_initial(initials), full_surname(surname, surname_prefix), birth_date.isoformat())
    )


def postcode(text: str) -> str:
    return "".join(text.split()).upper()


def household_key(*, postcode_text: str, house_number: str, addition: str | None) -> str:
    number = house_number.strip().lstrip("0") or "0"
    return "|".join((postcode(postcode_text), number, fold(addition or "").upper()))
