"""The one way personal data leaves the broker.

Whatever carries it out (an API answer, a web page, a command, a report, an export, a
webhook, a notice), a disclosure goes through :meth:`Disclosures.disclose`, which

1. asks the register, per person, whether this recipient may have this purpose's data for
   this action, weighing the person's consents, objections and restriction as they stand
   in this transaction (``exchange.disclosures.subjects``);
2. lets the caller cut each permitted person's record to the fields of the rule that
   permitted it (``show``), and only those;
3. appends one audit record per person, permitted or denied, naming the rule, the policy
   version, the legal basis and the fields that went out, to the audit log in this same
   transaction: if that append fails, nothing is disclosed;
4. when the disclosure may not happen at all, raises :class:`Refused`. The unit of work
   (``exchange.db.unit_of_work``) then rolls back whatever the transaction did, appends the
   refusal's audit records, commits them, and the caller's error is answered.

A reviewer finds every disclosure by looking for ``disclose(``. Decisions about no one in
particular (whether a municipality may export at all) are made with :data:`NOBODY`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, NoReturn, TypeVar

from sqlalchemy.orm import Session

from exchange.auditlog.service import AuditRecord, AuditSink
from exchange.auth.tokens import Principal
from exchange.db import RecordedError
from exchange.disclosures.subjects import subject_states
from exchange.errors import ExchangeError
from exchange.policy.service import categories_of
from policies.engine import Decision, DecisionRequest, Register, SubjectState

T = TypeVar("T")


@dataclass(frozen=True)
class Party:
    """An organisation on one side of a disclosure, and who acted for it.

    ``kind`` is what the register decides a recipient by (an actor needs none); ``client``
    is the API client id, ``user:<id>`` for a person on a page, or the name of the broker's
    own job: it goes into the audit record, never a person's name.
    """

    organisation_id: uuid.UUID | None
    kind: str = ""
    client: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Party:
        kind = principal.organisation_kind.value
        return cls(principal.organisation_id, kind, principal.client_id)


@dataclass(frozen=True)
class Person:
    """Whose data: the broker's pseudonym of the person (and the subject row, if any).

    ``linked``: the pseudonyms of the person's other identifiers that a new signal brings
    and that will be linked when it is stored; what they recorded counts already.
    """

    pseudonym: str | None
    subject_id: uuid.UUID | None = None
    linked: tuple[str, ...] = ()


NOBODY = Person(None)
"""A decision about no person in particular: whether the disclosure may happen at all."""


@dataclass(frozen=True)
class Disclosure:
    """What is disclosed, by whom, for what: ``action`` is the register's (``receive``,
    ``read``, ``record``, ``aggregate``), ``audit_action`` the log's name for it
    (``case.read``, ``signal.route``)."""

    actor: Party
    purpose: str
    action: str
    audit_action: str


@dataclass(frozen=True)
class Ask(Generic[T]):
    """One person's data, for one recipient, and what it is about (``resources``, ids only).

    ``item`` is the caller's own record of the person, handed back to ``show``.
    """

    person: Person
    recipient: Party
    item: T
    resources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Shown(Generic[T]):
    """What ``show`` cut from a permitted person's record.

    ``fields`` are the register fields that went out (the rule's fields when ``None``);
    ``resources`` are added to the audit record of a permitted disclosure only.
    """

    value: T
    fields: Iterable[str] | None = None
    resources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decided(Generic[T]):
    """One person's decision and, when permitted, what was shown."""

    ask: Ask[object]
    decision: Decision
    shown: T | None = None

    @property
    def permitted(self) -> bool:
        return self.decision.permitted


Refusal = Callable[[list[str]], ExchangeError]
"""Builds the error a refused disclosure answers, from the reasons of the denies."""

RefuseWhen = Literal["none_permitted", "any_denied"] | Callable[[list[Decided[object]]], bool]
"""When a disclosure with a ``refuse`` is refused: nobody permitted (the default), anybody
denied or nobody there at all, or the caller's own test over the decisions."""


class Refused(ExchangeError, RecordedError):
    """A disclosure (or a data subject's request) that may not happen, answered as the
    caller's error (``problem``: the same status, type, detail and extra members), with the
    audit records that keep the refusal on record.

    The unit of work (``exchange.db.unit_of_work``) rolls the transaction back, then calls
    :meth:`record`, which appends those records, and commits them.
    """

    def __init__(
        self, problem: ExchangeError, records: list[AuditRecord], sink: AuditSink, now: dt.datetime
    ) -> None:
        super().__init__(problem.detail, problem.errors)
        self.status = problem.status
        self.title = problem.title
        self.slug = problem.slug
        self.problem = problem
        self.records = records
        self.sink = sink
        self.now = now

    def as_problem(self, instance: str | None = None) -> dict[str, Any]:
        return self.problem.as_problem(instance)

    def record(self, session: Session) -> None:
        """Append the refusal's records in ``session``'s (fresh) transaction."""
        self.sink.append(session, self.records, self.now)


class Disclosures:
    """Disclosures in one transaction: its session, the register in force, the audit log."""

    def __init__(
        self,
        session: Session,
        register: Register,
        audit: AuditSink,
        now: dt.datetime,
        today: dt.date,
    ) -> None:
        self.session = session
        self.register = register
        self.audit = audit
        self.now = now
        self.today = today

    def refuse_request(
        self, actor: Party, audit_action: str, person: Person, purpose: str, problem: ExchangeError
    ) -> NoReturn:
        """Refuse a request about a person that a duty of the register overrides (an erasure
        while a case under ``purpose`` is open): raise :class:`Refused`, so that the deny is
        on record and nothing else the transaction did. No rule decided it, so the record
        names none; the ground is the purpose, and the answer (``problem``) states it."""
        record = AuditRecord(
            action=audit_action,
            decision="deny",
            actor_org=actor.organisation_id,
            actor_client=actor.client,
            purpose=purpose,
            policy_version=self.register.version_hash,
            subject=person.pseudonym,
        )
        raise Refused(problem, [record], self.audit, self.now)

    def disclose(
        self,
        disclosure: Disclosure,
        asks: Sequence[Ask[T]],
        *,
        show: Callable[[Ask[T], Decision], Shown[Any]] | None = None,
        refuse: Refusal | None = None,
        refuse_when: RefuseWhen = "none_permitted",
        states: Mapping[str, SubjectState] | None = None,
    ) -> list[Decided[object]]:
        """Decide, cut, audit and, when it may not happen, refuse: see the module.

        ``refuse`` makes a refusal raise :class:`Refused` (with the error it builds) when
        ``refuse_when`` says so (:data:`RefuseWhen`); without it the caller gets every
        decision and leaves out the denied itself.
        ``states`` are the people's states when the caller has read them already.
        """
        decided = self.decide(disclosure, asks, states=states)
        shown: list[Decided[object]] = []
        records: list[AuditRecord] = []
        for ask, decision in zip(asks, decided, strict=True):
            cut = show(ask, decision) if show is not None and decision.permitted else None
            records.append(self._record(disclosure, ask, decision, cut))
            shown.append(Decided(ask, decision, cut.value if cut is not None else None))  # type: ignore[arg-type]
        denied = [d for d in shown if not d.permitted]
        if refuse_when == "any_denied":
            refused = bool(denied) or not shown
        elif refuse_when == "none_permitted":
            refused = len(denied) == len(shown)
        else:
            refused = refuse_when(shown)
        if refuse is not None and refused:
            reasons = sorted({d.decision.reason for d in denied})
            raise Refused(refuse(reasons), records, self.audit, self.now)
        self.audit.append(self.session, records, self.now)
        return shown

    def permission(
        self,
        disclosure: Disclosure,
        recipient: Party,
        resources: Mapping[str, str],
        *,
        refuse: Refusal,
    ) -> Decision:
        """The rule's answer for this recipient before any person is weighed: a deny is
        recorded and refused (:class:`Refused`); a permit is not recorded here, the
        disclosures of the people that follow are."""
        ask: Ask[None] = Ask(NOBODY, recipient, None, resources)
        [decision] = self.decide(disclosure, [ask])
        if not decision.permitted:
            self.disclose(disclosure, [ask], refuse=refuse)
        return decision

    def decide(
        self,
        disclosure: Disclosure,
        asks: Sequence[Ask[T]],
        *,
        states: Mapping[str, SubjectState] | None = None,
    ) -> list[Decision]:
        """The register's decision for each ask, recorded nowhere: for a question that
        discloses nothing by itself (which fields a rule would show). Use ``disclose`` for
        anything that goes out."""
        purpose, action = disclosure.purpose, disclosure.action
        if states is None:
            states = self.states(asks, purpose, action)
        return [
            self.register.decide(
                DecisionRequest(
                    actor_org=str(ask.recipient.organisation_id),
                    actor_kind=ask.recipient.kind,
                    action=action,
                    purpose=purpose,
                    today=self.today,
                    subject=_state_of(ask.person, states),
                )
            )
            for ask in asks
        ]

    def states(
        self, asks: Sequence[Ask[T]], purpose: str, action: str
    ) -> Mapping[str, SubjectState]:
        """The people's states, with their consents when a rule involved needs consent."""
        pseudonyms = {a.person.pseudonym for a in asks if a.person.pseudonym}
        pseudonyms.update(p for a in asks for p in a.person.linked)
        if not pseudonyms:
            return {}
        kinds = {a.recipient.kind for a in asks}
        with_consents = any(
            (rule := self.register.rule_for(kind, purpose, action)) is not None
            and rule.consent_required
            for kind in kinds
        )
        return subject_states(self.session, pseudonyms, with_consents=with_consents)

    def legal_basis(self, purpose: str) -> tuple[str, ...]:
        # A register without the purpose denies by default; its record then names no basis.
        try:
            return self.register.purpose(purpose).legal_basis
        except KeyError:
            return ()

    def _record(
        self, disclosure: Disclosure, ask: Ask[T], decision: Decision, shown: Shown[Any] | None
    ) -> AuditRecord:
        if not decision.permitted:
            fields: tuple[str, ...] = ()
        elif shown is not None and shown.fields is not None:
            fields = tuple(sorted(set(shown.fields)))
        else:
            fields = tuple(sorted(decision.fields))
        resources = dict(ask.resources)
        if shown is not None:
            resources.update(shown.resources)
        return AuditRecord(
            action=disclosure.audit_action,
            decision="permit" if decision.permitted else "deny",
            actor_org=disclosure.actor.organisation_id,
            actor_client=disclosure.actor.client,
            purpose=disclosure.purpose,
            legal_basis=self.legal_basis(disclosure.purpose),
            policy_version=decision.policy_version,
            rule_id=decision.rule_id,
            fields=fields,
            categories=categories_of(self.register, fields),
            recipient_org=ask.recipient.organisation_id,
            subject=ask.person.pseudonym,
            resources=resources,
        )


_NOBODY_DECIDED = SubjectState()


def _state_of(person: Person, states: Mapping[str, SubjectState]) -> SubjectState:
    """The person's state, with what their identifiers about to be linked recorded."""
    own = states.get(person.pseudonym or "", _NOBODY_DECIDED)
    for other in person.linked:
        state = states.get(other)
        if state is not None:
            own = SubjectState(
                consents=own.consents + state.consents,
                objections=own.objections + state.objections,
                refused=own.refused or state.refused,
                restricted=own.restricted or state.restricted,
            )
    return own
