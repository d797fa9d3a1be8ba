"""The disclosure decision: may this recipient have these fields, for this purpose, now?

A register directory (see ``register/``) is read, checked and compiled once per version into
a table keyed by (recipient kind, purpose, action). :func:`decide` is then a pure function:
no clock, no files, no database; the caller passes the subject's consents, objections and
refusal, and the date. The same request always gets the same decision.

The order of the checks, which is also the order of precedence:

1. **Deny by default.** No rule for the recipient kind, purpose and action: deny.
2. **Refusal.** The provider recorded that the person refused to have the details passed on
   (Besluit gemeentelijke schuldhulpverlening art. 2 sub d): deny, for every purpose.
   **Restriction.** The person's data is restricted (AVG art. 18): it is stored, and
   nothing is disclosed for any purpose until the restriction is lifted.
3. **Objection.** The person objected (AVG art. 21) to this purpose on or before the date of
   the decision: deny, whatever the rule says.
4. **Withdrawal.** The person withdrew consent for this purpose on or before the date and
   has not given consent for this purpose again since: deny. A withdrawal is honoured for
   the whole purpose, not only for the one recipient it named: a person who says "stop"
   should not have to say it to every recipient. Consent withdrawn and given again on the
   same day counts as withdrawn.
5. **Consent.** A rule that requires consent needs one for exactly this purpose and exactly
   this recipient organisation, given on or before the date, not expired and not withdrawn.
6. **Minimisation.** The recipient gets the requested fields that the rule lists, nothing
   else; fields asked for but not listed are named in ``Decision.withheld``. When none of the
   requested fields is listed, the answer is deny.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from policies.check import Problem, check_sources, eligibility_path
from policies.intake import load_intake_policy
from policies.source import (
    canonical_register,
    default_register_dir,
    read_sources,
    version_hash,
)

Action = Literal["receive", "read", "record", "aggregate"]
ACTIONS: tuple[str, ...] = ("receive", "read", "record", "aggregate")
NO_RULE = "deny.default"

# Why a decision came out as it did; audit records and tests use these codes.
PERMITTED = "permitted"
NO_RULE_OUTCOME = "no_rule"
REFUSED = "refused"
RESTRICTED = "restricted"
OBJECTED = "objected"
WITHDRAWN = "withdrawn"
NO_CONSENT = "no_consent"
NO_FIELDS = "no_fields"


class RegisterError(ValueError):
    """A register that fails the check; ``problems`` lists every ``file:line: problem``."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


# The request ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Consent:
    """A person's consent for one purpose and one recipient organisation.

    Valid from ``given_on`` up to and including ``valid_until`` (open-ended when ``None``),
    and no longer from the day ``withdrawn_on``.
    """

    purpose: str
    recipient_org: str
    given_on: dt.date
    valid_until: dt.date | None = None
    withdrawn_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Objection:
    """An objection (AVG art. 21) to one purpose, in force from ``made_on``."""

    purpose: str
    made_on: dt.date


@dataclass(frozen=True, slots=True)
class SubjectState:
    """What the person decided: consents, objections, and a refusal the provider recorded.

    ``restricted`` is set while the person's data is restricted (AVG art. 18).
    """

    consents: tuple[Consent, ...] = ()
    objections: tuple[Objection, ...] = ()
    refused: bool = False
    restricted: bool = False


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """One question to the engine.

    ``fields`` are the fields wanted; ``None`` asks for everything the rule allows. ``today``
    is the date of the decision, passed in so that the decision is reproducible.
    """

    actor_org: str
    actor_kind: str
    action: str
    purpose: str
    today: dt.date
    subject: SubjectState = SubjectState()
    fields: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: permit or deny, exactly which fields, which rule, which policy version, why.

    ``outcome`` is a short code (``permitted``, ``no_rule``, ``refused``, ``restricted``,
    ``objected``, ``withdrawn``, ``no_consent``, ``no_fields``). On a deny, ``rule_id`` is
    the rule that would have applied, or ``deny.default`` when none does; ``fields`` is empty.
    """

    permitted: bool
    fields: frozenset[str]
    rule_id: str
    policy_version: str
    outcome: str
    reason: str
    reason_nl: str
    pseudonym: str = "none"
    withheld: frozenset[str] = frozenset()
    feedback_codes: frozenset[str] = frozenset()
    aggregates_only: bool = False
    min_group_size: int | None = None


# The register -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Purpose:
    """A processing activity of the register."""

    id: str
    uri: str
    name: Mapping[str, str]
    description: Mapping[str, str]
    legal_basis: tuple[str, ...]
    national_basis: str | None
    categories: tuple[str, ...]
    retention_period: str
    retention_starts: str
    # When set, erasure (AVG art. 17) is refused while this holds (``case_open``), on the
    # ground given in plain language: art. 17(3)(b), a legal obligation or public task.
    erasure_refused_while: str | None = None
    erasure_ground: Mapping[str, str] = field(default_factory=dict)
    # What starts the retention period, in words for a person ({nl, en}); empty in a
    # register written before it was asked for (then only ``retention_starts`` says it).
    retention_counted_from: Mapping[str, str] = field(default_factory=dict)

    @property
    def consent_based(self) -> bool:
        """True when the purpose rests on consent (AVG art. 6(1)(a)) alone."""
        return self.legal_basis == ("eu-gdpr:A6-1-a",)


@dataclass(frozen=True)
class Category:
    """A data category and the signal or case fields in it."""

    id: str
    name: Mapping[str, str]
    fields: tuple[str, ...]


@dataclass(frozen=True)
class FieldDefinition:
    """A field of a signal or case: where it comes from and what it holds."""

    id: str
    source: str
    description: str


@dataclass(frozen=True)
class RecipientKind:
    """A kind of organisation that can receive data (or, for providers, feedback)."""

    id: str
    provider: bool
    name: Mapping[str, str]


@dataclass(frozen=True)
class Rule:
    """A permit: these recipient kinds may do these actions on these fields for a purpose."""

    id: str
    purpose: str
    recipient_kinds: tuple[str, ...]
    actions: tuple[str, ...]
    consent_required: bool
    pseudonym: str
    fields: frozenset[str]
    feedback_codes: frozenset[str]
    aggregates_only: bool
    min_group_size: int | None


@dataclass(frozen=True, slots=True)
class _Permit:
    rule: Rule
    permit_reason: str
    permit_reason_nl: str
    deny_reasons: Mapping[str, tuple[str, str]]


@dataclass(frozen=True)
class Register:
    """A checked and compiled register of processing: one policy version."""

    version: str
    version_hash: str
    title: Mapping[str, str]
    controller: str
    uri_base: str
    eligibility: str | None
    eligibility_version: str | None
    recipient_kinds: tuple[RecipientKind, ...]
    feedback_codes: Mapping[str, Mapping[str, str]]
    fields: tuple[FieldDefinition, ...]
    categories: tuple[Category, ...]
    purposes: tuple[Purpose, ...]
    rules: tuple[Rule, ...]
    _table: Mapping[tuple[str, str, str], _Permit] = field(repr=False, compare=False)
    # AVG art. 30(1) in words for the people whose data it is, each {nl, en}; empty in a
    # register written before the register section asked for them.
    controller_name: Mapping[str, str] = field(default_factory=dict)
    controller_contact: Mapping[str, str] = field(default_factory=dict)
    dpo: Mapping[str, str] = field(default_factory=dict)
    data_subjects: tuple[Mapping[str, str], ...] = ()
    transfers: Mapping[str, str] = field(default_factory=dict)
    security_measures: tuple[Mapping[str, str], ...] = ()

    def purpose(self, purpose_id: str) -> Purpose:
        """The purpose with this id (``KeyError`` when there is none)."""
        for purpose in self.purposes:
            if purpose.id == purpose_id:
                return purpose
        raise KeyError(purpose_id)

    def rule_for(self, actor_kind: str, purpose: str, action: str) -> Rule | None:
        """The rule that covers a recipient kind, purpose and action, if any."""
        permit = self._table.get((actor_kind, purpose, action))
        return permit.rule if permit is not None else None

    def decide(self, request: DecisionRequest) -> Decision:
        """Decide one request against this register (see the module docstring for the order)."""
        permit = self._table.get((request.actor_kind, request.purpose, request.action))
        if permit is None:
            return Decision(
                permitted=False,
                fields=frozenset(),
                rule_id=NO_RULE,
                policy_version=self.version_hash,
                outcome=NO_RULE_OUTCOME,
                reason=(
                    f"No rule lets a {request.actor_kind} {request.action} data for the purpose "
                    f"{request.purpose!r}; nothing is disclosed unless a rule allows it."
                ),
                reason_nl=(
                    f"Geen regel staat een {request.actor_kind} toe om gegevens te "
                    f"{request.action} voor het doel {request.purpose!r}; zonder regel geen "
                    "verstrekking."
                ),
            )
        rule = permit.rule
        subject = request.subject
        today = request.today
        purpose = request.purpose
        if subject.refused:
            return self._deny(permit, REFUSED)
        if subject.restricted:
            return self._deny(permit, RESTRICTED)
        for objection in subject.objections:
            if objection.purpose == purpose and objection.made_on <= today:
                return self._deny(permit, OBJECTED)
        if subject.consents and _withdrawn(subject.consents, purpose, today):
            return self._deny(permit, WITHDRAWN)
        if rule.consent_required and not _has_consent(
            subject.consents, purpose, request.actor_org, today
        ):
            return self._deny(permit, NO_CONSENT)
        if request.fields is None:
            allowed = rule.fields
            withheld: frozenset[str] = frozenset()
        else:
            allowed = request.fields & rule.fields
            withheld = request.fields - rule.fields
            if not allowed:
                return self._deny(permit, NO_FIELDS, withheld)
        return Decision(
            permitted=True,
            fields=allowed,
            rule_id=rule.id,
            policy_version=self.version_hash,
            outcome=PERMITTED,
            reason=permit.permit_reason,
            reason_nl=permit.permit_reason_nl,
            pseudonym=rule.pseudonym,
            withheld=withheld,
            feedback_codes=rule.feedback_codes,
            aggregates_only=rule.aggregates_only,
            min_group_size=rule.min_group_size,
        )

    def _deny(
        self, permit: _Permit, outcome: str, withheld: frozenset[str] = frozenset()
    ) -> Decision:
        reason, reason_nl = permit.deny_reasons[outcome]
        return Decision(
            permitted=False,
            fields=frozenset(),
            rule_id=permit.rule.id,
            policy_version=self.version_hash,
            outcome=outcome,
            reason=reason,
            reason_nl=reason_nl,
            withheld=withheld,
        )


# Public functions -------------------------------------------------------------------------


def load_register(path: Path | None = None) -> Register:
    """Read, check and compile a register directory (the shipped one by default).

    Raises :class:`RegisterError` listing every problem when the register fails the check.
    A register is compiled once per version hash; loading the same version again returns
    the compiled register from memory.
    """
    directory = default_register_dir() if path is None else path
    sources = read_sources(directory)
    problems = check_sources(directory, sources)
    if problems:
        raise RegisterError(problems)
    intake_path = eligibility_path(directory, sources)
    eligibility_version = (
        load_intake_policy(intake_path).version_hash if intake_path is not None else None
    )
    canonical = canonical_register(sources, eligibility_version)
    digest = version_hash(canonical)
    compiled = _COMPILED.get(digest)
    if compiled is None:
        compiled = _compile(canonical, digest, eligibility_version)
        _COMPILED[digest] = compiled
    return compiled


def decide(request: DecisionRequest, register: Register | None = None) -> Decision:
    """Decide one request against ``register`` (the shipped register when ``None``)."""
    return (register if register is not None else shipped_register()).decide(request)


@cache
def shipped_register() -> Register:
    """The register that ships with the package, loaded once per process."""
    return load_register()


# Compilation ------------------------------------------------------------------------------

_COMPILED: dict[str, Register] = {}


def _compile(document: Any, digest: str, eligibility_version: str | None) -> Register:
    meta = document["register"]
    kinds = tuple(
        RecipientKind(item["id"], item["provider"], item["name"])
        for item in document["recipient_kinds"]
    )
    purposes = tuple(
        Purpose(
            id=item["id"],
            uri=meta["uri_base"] + item["id"],
            name=item["name"],
            description=item["description"],
            legal_basis=tuple(item["legal_basis"]),
            national_basis=item.get("national_basis"),
            categories=tuple(item["categories"]),
            retention_period=item["retention"]["period"],
            retention_starts=item["retention"]["starts"],
            erasure_refused_while=item.get("erasure", {}).get("refused_while"),
            erasure_ground=item.get("erasure", {}).get("ground", {}),
            retention_counted_from=item["retention"].get("counted_from", {}),
        )
        for item in document["purposes"]
    )
    rules = tuple(
        Rule(
            id=item["id"],
            purpose=item["purpose"],
            recipient_kinds=tuple(item["recipient_kinds"]),
            actions=tuple(item["actions"]),
            consent_required=item["consent_required"],
            pseudonym=item["pseudonym"],
            fields=frozenset(item["fields"]),
            feedback_codes=frozenset(item.get("feedback_codes", [])),
            aggregates_only=bool(item.get("aggregates_only", False)),
            min_group_size=item.get("min_group_size"),
        )
        for item in document["rules"]
    )
    purpose_by_id = {purpose.id: purpose for purpose in purposes}
    kind_names = {kind.id: kind.name for kind in kinds}
    table: dict[tuple[str, str, str], _Permit] = {}
    # Rules are sorted by id, so when overlapping (agreeing) rules exist the lowest id decides.
    for rule in rules:
        for kind in rule.recipient_kinds:
            for action in rule.actions:
                key = (kind, rule.purpose, action)
                if key not in table:
                    table[key] = _permit(
                        rule, purpose_by_id[rule.purpose], kind_names[kind], action
                    )
    return Register(
        version=meta["version"],
        version_hash=digest,
        title=meta["title"],
        controller=meta["controller"],
        uri_base=meta["uri_base"],
        eligibility=meta.get("eligibility"),
        eligibility_version=eligibility_version,
        recipient_kinds=kinds,
        feedback_codes={item["id"]: item["name"] for item in document["feedback_codes"]},
        fields=tuple(
            FieldDefinition(item["id"], item["source"], item["description"])
            for item in document["fields"]
        ),
        categories=tuple(
            Category(item["id"], item["name"], tuple(item["fields"]))
            for item in document["categories"]
        ),
        purposes=purposes,
        rules=rules,
        _table=table,
        controller_name=meta.get("controller_name", {}),
        controller_contact=meta.get("controller_contact", {}),
        dpo=meta.get("dpo", {}),
        data_subjects=_in_name_order(meta.get("data_subjects", {})),
        transfers=meta.get("transfers", {}),
        security_measures=_in_name_order(meta.get("security_measures", {})),
    )


def _in_name_order(texts: Mapping[str, Mapping[str, str]]) -> tuple[Mapping[str, str], ...]:
    """A register's named texts in the order of their names: a mapping's order is not part
    of the version hash, so it is not the order they are shown in either."""
    return tuple(texts[name] for name in sorted(texts))


_ACTION_NL = {
    "receive": "ontvangen",
    "read": "inzien",
    "record": "vastleggen",
    "aggregate": "geteld opvragen",
}


def _permit(rule: Rule, purpose: Purpose, kind: Mapping[str, str], action: str) -> _Permit:
    name_en, name_nl = purpose.name["en"], purpose.name["nl"]
    basis = ", ".join(purpose.legal_basis)
    if purpose.national_basis:
        basis += f"; {purpose.national_basis}"
    deny = {
        REFUSED: (
            "The person refused to have the details passed on (Besluit gemeentelijke "
            "schuldhulpverlening art. 2 sub d); nothing is disclosed for any purpose.",
            "De persoon heeft bezwaar gemaakt tegen het doorgeven van de gegevens (Besluit "
            "gemeentelijke schuldhulpverlening art. 2 sub d); er wordt niets verstrekt.",
        ),
        RESTRICTED: (
            "The processing of the person's data is restricted (AVG art. 18): it is stored, "
            "but nothing is disclosed for any purpose while the restriction lasts.",
            "De verwerking van de gegevens van de persoon is beperkt (AVG art. 18): ze worden "
            "bewaard, maar er wordt niets verstrekt zolang de beperking geldt.",
        ),
        OBJECTED: (
            f"The person objected (AVG art. 21) to the purpose “{name_en}”; rule {rule.id} "
            "no longer applies.",
            f"De persoon heeft bezwaar gemaakt (AVG art. 21) tegen het doel “{name_nl}”; "
            f"regel {rule.id} geldt niet meer.",
        ),
        WITHDRAWN: (
            f"The person withdrew consent for the purpose “{name_en}” and has not given it "
            "again; nothing is disclosed for it.",
            f"De persoon heeft de toestemming voor het doel “{name_nl}” ingetrokken en niet "
            "opnieuw gegeven; er wordt niets verstrekt.",
        ),
        NO_CONSENT: (
            f"Rule {rule.id} needs the person's consent for “{name_en}” and for this recipient "
            "organisation, valid today; there is none.",
            f"Regel {rule.id} vraagt toestemming van de persoon voor “{name_nl}” en voor deze "
            "ontvanger, geldig op deze dag; die is er niet.",
        ),
        NO_FIELDS: (
            f"Rule {rule.id} allows none of the fields asked for.",
            f"Regel {rule.id} staat geen van de gevraagde gegevens toe.",
        ),
    }
    return _Permit(
        rule=rule,
        permit_reason=(
            f"Rule {rule.id} lets the recipient ({kind['en']}) {action} these fields for the "
            f"purpose “{name_en}” ({basis})."
        ),
        permit_reason_nl=(
            f"Regel {rule.id} staat de ontvanger ({kind['nl']}) toe deze gegevens te "
            f"{_ACTION_NL[action]} voor het doel “{name_nl}” ({basis})."
        ),
        deny_reasons=deny,
    )


def _withdrawn(consents: tuple[Consent, ...], purpose: str, today: dt.date) -> bool:
    latest_withdrawal: dt.date | None = None
    for consent in consents:
        withdrawn_on = consent.withdrawn_on
        if (
            withdrawn_on is not None
            and consent.purpose == purpose
            and withdrawn_on <= today
            and (latest_withdrawal is None or withdrawn_on > latest_withdrawal)
        ):
            latest_withdrawal = withdrawn_on
    if latest_withdrawal is None:
        return False
    return not any(
        consent.purpose == purpose
        and latest_withdrawal < consent.given_on <= today
        and (consent.withdrawn_on is None or consent.withdrawn_on > today)
        for consent in consents
    )


def _has_consent(
    consents: tuple[Consent, ...], purpose: str, recipient_org: str, today: dt.date
) -> bool:
    for consent in consents:
        if (
            consent.purpose == purpose
            and consent.recipient_org == recipient_org
            and consent.given_on <= today
            and (consent.valid_until is None or today <= consent.valid_until)
            and (consent.withdrawn_on is None or today < consent.withdrawn_on)
        ):
            return True
    return False
