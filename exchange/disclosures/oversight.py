"""The privacy officer's reviews of the audit log: disclosures of pseudonyms to the officer.

One record per person whose entries were read (as Logboek Dataverwerkingen asks), or one
about nobody for a read that names no one (a checkpoint, a proof, an export), from the API
and the pages alike. The person's own restriction or objection is not weighed: the log is
the controller's account of what it did (AVG art. 5(2)), and reviewing it is how a
restriction or an objection is checked and an access request answered.
"""

from __future__ import annotations

from collections.abc import Sequence

from exchange.disclosures.service import NOBODY, Ask, Disclosure, Disclosures, Party, Person
from exchange.errors import Forbidden

OVERSIGHT_PURPOSE = "privacy-oversight"


def record_review(
    disclosures: Disclosures,
    officer: Party,
    action: str,
    pseudonyms: Sequence[str | None],
    *,
    resources: dict[str, str] | None = None,
) -> None:
    """Decide and record the officer's read of the entries of these people (``None``: of
    nobody in particular); a register that does not let the officer read refuses it."""
    people = [Person(p) if p else NOBODY for p in pseudonyms] or [NOBODY]
    disclosures.disclose(
        Disclosure(officer, OVERSIGHT_PURPOSE, "read", action),
        [Ask(person, officer, None, resources or {}) for person in people],
        refuse=_forbidden,
        states={},
    )


def _forbidden(reasons: list[str]) -> Forbidden:
    return Forbidden(f"the register does not let you review the log: {'; '.join(reasons)}")
