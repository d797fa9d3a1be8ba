"""Disclosures: the one way personal data leaves the broker (see ``service``)."""

from exchange.disclosures.service import (
    NOBODY,
    Ask,
    Decided,
    Disclosure,
    Disclosures,
    Party,
    Person,
    Refused,
    Shown,
)

__all__ = [
    "NOBODY",
    "Ask",
    "Decided",
    "Disclosure",
    "Disclosures",
    "Party",
    "Person",
    "Refused",
    "Shown",
]
