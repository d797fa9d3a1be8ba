"""The disclosure module (``exchange/disclosures/``) is the only producer of disclosure
audit records: ``AuditRecord`` values whose decision is ``permit`` or ``deny``.

Records with another decision (``recorded``: a consent event, a policy activation, an
administrative action) may be made anywhere. Two checks:

* statically, every ``AuditRecord(...)`` and every ``replace(...)`` of a record in the source
  of ``exchange/`` whose decision is not the literal ``"recorded"`` lies in the disclosure
  module;
* dynamically, in a real end-to-end run on both databases, every permit and deny that
  reaches the audit log was built by the disclosure module and handed to the audit path by
  it: to ``AuditTrail.append`` (which stages them; the commit writes them, by
  ``AuditTrail.write_runs``), or to a ``Refused`` (appended after the rollback by its
  ``record``). The stack is read when the records are handed over, since the write runs
  from elsewhere, and every record written must have been handed over so. The frame that
  hands them over (the caller of the append or of ``Refused``) must itself be in the
  disclosure module: stricter than a disclosure frame anywhere on the stack, which a
  callback of ``disclose`` appending records of its own would also have.
"""

from __future__ import annotations

import ast
import collections
import copy
import dataclasses
import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import exchange
from exchange import clock
from exchange.auditlog.models import AuditEntry
from exchange.auditlog.service import AuditRecord, AuditTrail, _write_staged
from exchange.broker import Broker
from exchange.disclosures import Refused
from tests.factories import generated_bsn, signal_body

Headers = Callable[[str], dict[str, str]]

EXCHANGE = Path(exchange.__file__).resolve().parent
ROOT = EXCHANGE.parent
DISCLOSURES = EXCHANGE / "disclosures"
DISCLOSURE_DECISIONS = frozenset({"permit", "deny"})
ALLOWED_ANYWHERE = "recorded"

# The source scan -----------------------------------------------------------------------


@dataclass(frozen=True)
class Producer:
    """A place in the source that builds (or copies) an audit record whose decision is not
    the literal ``"recorded"``."""

    path: str
    function: str
    decision: str
    line: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.path, self.function, self.decision)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}: decision={self.decision}"


class _RecordCalls(ast.NodeVisitor):
    """Finds record constructions and copies in one module, with their enclosing function.

    A construction is a call of ``AuditRecord`` (by any name it was imported as, or as an
    attribute: ``service.AuditRecord``). A copy is ``dataclasses.replace``/``copy.replace``
    (by any alias), a bare ``replace(...)`` or ``__replace__``: it is taken for a record's
    copy when it sets ``decision=``, or when the module uses ``AuditRecord`` at all (then a
    copy without ``decision=`` keeps the copied record's decision, which may be a permit).
    """

    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.scope: list[str] = []
        self.found: list[Producer] = []
        self.record_names = {"AuditRecord"}
        self.replace_names = {"replace"}
        self.copy_modules = {"dataclasses", "copy"}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name == "AuditRecord":
                        self.record_names.add(alias.asname or alias.name)
                    if alias.name == "replace" and node.module in {"dataclasses", "copy"}:
                        self.replace_names.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in {"dataclasses", "copy"}:
                        self.copy_modules.add(alias.asname or alias.name)
        self.uses_records = any(
            (isinstance(n, ast.Name) and n.id in self.record_names)
            or (isinstance(n, ast.Attribute) and n.attr == "AuditRecord")
            for n in ast.walk(tree)
        )

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped  # noqa: N815

    def visit_Call(self, node: ast.Call) -> None:
        kind = self._kind(node.func)
        if kind is not None:
            decision = self._decision(node, kind)
            if decision is not None and decision != repr(ALLOWED_ANYWHERE):
                function = ".".join(self.scope) or "<module>"
                self.found.append(Producer(self.path, function, decision, node.lineno))
        self.generic_visit(node)

    def _kind(self, func: ast.expr) -> str | None:
        if isinstance(func, ast.Name):
            if func.id in self.record_names:
                return "construct"
            if func.id in self.replace_names:
                return "copy"
        elif isinstance(func, ast.Attribute):
            if func.attr == "AuditRecord":
                return "construct"
            if func.attr == "__replace__":
                return "copy"
            if (
                func.attr == "replace"
                and isinstance(func.value, ast.Name)
                and func.value.id in self.copy_modules
            ):
                return "copy"
        return None

    def _decision(self, node: ast.Call, kind: str) -> str | None:
        """The source of the call's decision (a literal comes out as its repr), or None
        for a copy that is not of a record."""
        for keyword in node.keywords:
            if keyword.arg == "decision":
                value = keyword.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    return repr(value.value)
                return ast.unparse(value)
        if any(keyword.arg is None for keyword in node.keywords):
            return (
                "<unknown: **"
                + ", **".join(ast.unparse(k.value) for k in node.keywords if k.arg is None)
                + ">"
            )
        if kind == "construct":
            # AuditRecord's fields in order: action, decision, ...
            if len(node.args) > 1:
                second = node.args[1]
                if isinstance(second, ast.Constant) and isinstance(second.value, str):
                    return repr(second.value)
                return ast.unparse(second)
            return "<not given>"
        return "<kept from the copied record>" if self.uses_records else None


def producers_in(source: str, path: str) -> list[Producer]:
    tree = ast.parse(source, filename=path)
    finder = _RecordCalls(path, tree)
    finder.visit(tree)
    return finder.found


@functools.cache
def producers_in_exchange() -> tuple[Producer, ...]:
    found = []
    for file in sorted(EXCHANGE.rglob("*.py")):
        found += producers_in(file.read_text(encoding="utf-8"), file.relative_to(ROOT).as_posix())
    return tuple(found)


def _in_disclosures(path: str) -> bool:
    return (ROOT / path).resolve().is_relative_to(DISCLOSURES)


def test_no_module_outside_the_disclosure_module_builds_a_permit_or_deny_record() -> None:
    # exchange/auditlog/ is scanned like any other package: it defines AuditRecord and
    # must build no permit or deny record of its own.
    outside = {p.key: p for p in producers_in_exchange() if not _in_disclosures(p.path)}
    assert not outside, (
        "permit/deny audit records built outside exchange/disclosures/ (decide and record "
        "them through Disclosures.disclose instead):\n" + "\n".join(map(str, outside.values()))
    )


def test_the_disclosure_module_builds_the_permit_and_deny_records() -> None:
    inside = [p for p in producers_in_exchange() if _in_disclosures(p.path)]
    assert [(p.path, p.function) for p in inside] == [
        ("exchange/disclosures/service.py", "Disclosures.refuse_request"),
        ("exchange/disclosures/service.py", "Disclosures._record"),
    ], [str(p) for p in inside]
    assert "deny" in inside[0].decision
    assert "permit" in inside[1].decision and "deny" in inside[1].decision


def test_the_source_scan_sees_every_way_of_writing_a_permit_or_deny_record() -> None:
    source = """
import dataclasses as dc
from dataclasses import replace
from dataclasses import replace as copied
from exchange.auditlog import service
from exchange.auditlog.service import AuditRecord
from exchange.auditlog.service import AuditRecord as Entry

def literal(): return AuditRecord(action="a", decision="permit", actor_org=None)
def aliased(): return Entry(action="a", decision="deny", actor_org=None)
def attribute(): return service.AuditRecord(action="a", decision=chosen, actor_org=None)
def positional(): return AuditRecord("a", "deny", None)
def spread(**kw): return AuditRecord(action="a", actor_org=None, **kw)
def copy_one(r): return replace(r, decision="permit")
def copy_two(r): return dc.replace(r, resources={})
def copy_three(r): return copied(r, action="b")
def copy_four(r): return r.__replace__(decision="deny")
def allowed(r):
    AuditRecord(action="a", decision="recorded", actor_org=None)
    replace(r, decision="recorded")
    "text".replace("e", "f")
"""
    found = {p.function: p.decision for p in producers_in(source, "exchange/scratch.py")}
    assert found == {
        "literal": "'permit'",
        "aliased": "'deny'",
        "attribute": "chosen",
        "positional": "'deny'",
        "spread": "<unknown: **kw>",
        "copy_one": "'permit'",
        "copy_two": "<kept from the copied record>",
        "copy_three": "<kept from the copied record>",
        "copy_four": "'deny'",
    }


# The run -----------------------------------------------------------------------------------

_PASSING_ON = {_write_staged.__code__, Refused.record.__code__}
"""Where records handed over earlier (staged by an append, or to a Refused) go on: to the
write at commit, to a sink."""

_NOT_THE_CALLER = {Path(f).resolve() for f in (__file__, dataclasses.__file__, copy.__file__)}


def _caller() -> FrameType:
    """The innermost frame outside this module's wrappers (and dataclasses.replace): the
    code that called the wrapped method."""
    frame = inspect.currentframe()
    while frame is not None and Path(frame.f_code.co_filename).resolve() in _NOT_THE_CALLER:
        frame = frame.f_back
    assert frame is not None
    return frame


def _where(frame: FrameType) -> str:
    path = Path(frame.f_code.co_filename).resolve()
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    return f"{name}:{frame.f_lineno} in {frame.f_code.co_qualname}"


def _frame_in_disclosures(frame: FrameType) -> bool:
    return Path(frame.f_code.co_filename).resolve().is_relative_to(DISCLOSURES)


@dataclass
class DisclosurePath:
    """What the wrapped audit path saw: where each permit/deny record was built and who
    handed it over, by which path; the leaf indexes they were appended at; and every record
    that did not come from the disclosure module."""

    built_in: dict[int, str] = field(default_factory=dict)
    built_by_disclosures: set[int] = field(default_factory=set)
    handed_over: set[int] = field(default_factory=set)
    kept: list[AuditRecord] = field(default_factory=list)  # keeps the id()s above unique
    paths: collections.Counter[str] = field(default_factory=collections.Counter)
    decisions: collections.Counter[str] = field(default_factory=collections.Counter)
    logged: dict[int, AuditRecord] = field(default_factory=dict)
    stray: list[str] = field(default_factory=list)

    def built(self, record: AuditRecord) -> None:
        caller = _caller()
        self.kept.append(record)
        self.built_in[id(record)] = _where(caller)
        if _frame_in_disclosures(caller):
            self.built_by_disclosures.add(id(record))

    def hand_over(self, records: Sequence[AuditRecord], path: str) -> None:
        """Records handed to the audit path (``path``): by the disclosure module itself,
        or passed on by the commit's write or a refusal's record after an earlier hand-over."""
        caller = _caller()
        passed_on = caller.f_code in _PASSING_ON
        for record in records:
            if record.decision not in DISCLOSURE_DECISIONS:
                continue
            what = f"{record.action} {record.decision} (built at {self.built_in.get(id(record))})"
            if id(record) not in self.built_by_disclosures:
                self.stray.append(f"{what}: not built in exchange/disclosures/")
            if passed_on:
                if id(record) not in self.handed_over:
                    self.stray.append(f"{what}: passed on by {_where(caller)}, never handed over")
                continue
            if not _frame_in_disclosures(caller):
                self.stray.append(f"{what}: handed to {path} by {_where(caller)}")
                continue
            self.kept.append(record)
            self.handed_over.add(id(record))
            self.paths[path] += 1
            self.decisions[record.decision] += 1


@pytest.fixture
def disclosure_path(monkeypatch: pytest.MonkeyPatch) -> DisclosurePath:
    """The audit path wrapped: each wrapper records what it sees and calls through."""
    seen = DisclosurePath()
    build, append, write = AuditRecord.__init__, AuditTrail.append, AuditTrail.write_runs
    refuse = Refused.__init__

    def built(self: AuditRecord, *args: Any, **kwargs: Any) -> None:
        build(self, *args, **kwargs)
        seen.built(self)

    def appended(self: AuditTrail, session: Any, records: Sequence[AuditRecord], now: Any) -> None:
        seen.hand_over(records, "trail")
        append(self, session, records, now)

    def written(
        self: AuditTrail, session: Any, runs: Sequence[tuple[Sequence[AuditRecord], Any]]
    ) -> list[int]:
        records = [record for run, _ in runs for record in run]
        seen.hand_over(records, "written")
        indexes = write(self, session, runs)
        for index, record in zip(indexes, records, strict=True):
            if record.decision in DISCLOSURE_DECISIONS:
                seen.logged[index] = record
        return indexes

    def refused(
        self: Refused, problem: Any, records: list[AuditRecord], sink: Any, now: Any
    ) -> None:
        seen.hand_over(records, "refused")
        refuse(self, problem, records, sink, now)

    monkeypatch.setattr(AuditRecord, "__init__", built)
    monkeypatch.setattr(AuditTrail, "append", appended)
    monkeypatch.setattr(AuditTrail, "write_runs", written)
    monkeypatch.setattr(Refused, "__init__", refused)
    return seen


def disclosure_entries(db_session: Any) -> dict[int, tuple[str, str]]:
    with db_session() as session:
        rows = session.execute(
            select(AuditEntry.leaf_index, AuditEntry.action, AuditEntry.decision).where(
                AuditEntry.decision.in_(DISCLOSURE_DECISIONS)
            )
        )
        return {index: (action, decision) for index, action, decision in rows}


def test_every_permit_and_deny_in_the_log_is_built_and_handed_over_by_the_disclosure_module(
    client: TestClient,
    token_for: Headers,
    world: Any,
    db_session: Any,
    disclosure_path: DisclosurePath,
) -> None:
    municipality, housing = token_for("municipality"), token_for("housing_corporation")

    # Intake routes a signal to the municipality: a permit, written when intake commits.
    sent = client.post("/v1/signals", json=signal_body(), headers=housing)
    assert sent.status_code == 201, sent.text
    case_id = sent.json()["case_id"]

    # A person who objected is not routed: a deny, the same way.
    objector = generated_bsn()
    objection = client.post(
        "/v1/objections",
        json={"person": {"bsn": objector}, "purposes": ["early-signal"]},
        headers=token_for("privacy_officer"),
    )
    assert objection.status_code == 201, objection.text
    denied = client.post("/v1/signals", json=signal_body(person={"bsn": objector}), headers=housing)
    assert denied.status_code == 422, denied.text

    # The municipality reads its queue and the case: permits, staged the same way.
    assert client.get("/v1/cases", headers=municipality).status_code == 200
    assert client.get(f"/v1/cases/{case_id}", headers=municipality).status_code == 200

    # Handing the case to the debt service without consent is refused: a deny, appended
    # after the rollback by the Refused.
    target = {"organisation_id": world["debt_service"].id}
    refused = client.post(f"/v1/cases/{case_id}/assignment", json=target, headers=municipality)
    assert refused.status_code == 422, refused.text

    seen = disclosure_path
    assert not seen.stray, "\n".join(seen.stray)
    assert seen.decisions["permit"] >= 2 and seen.decisions["deny"] >= 2, seen.decisions
    assert {"trail", "refused"} <= seen.paths.keys(), seen.paths
    logged = disclosure_entries(db_session)
    expected = {("signal.route", "permit"), ("signal.route", "deny"), ("case.assign", "deny")}
    assert expected <= set(logged.values())
    # Every permit and deny in the log went through the watched append.
    assert logged.keys() <= seen.logged.keys()
    assert all((seen.logged[i].action, seen.logged[i].decision) == logged[i] for i in logged)


def test_the_watch_catches_a_permit_built_and_appended_outside_the_disclosure_module(
    broker: Broker, db_session: Any, disclosure_path: DisclosurePath
) -> None:
    record = AuditRecord(action="case.read", decision="permit", actor_org=None)
    with db_session() as session:
        broker.audit.append(session, [record], clock.now())
    # Built outside, handed over outside, and written at the commit without a hand-over
    # (where it is seen as built outside once more).
    stray = disclosure_path.stray
    assert all(line.startswith("case.read permit") for line in stray), stray
    assert any("not built in exchange/disclosures/" in line for line in stray), stray
    assert any("handed to trail by" in line for line in stray), stray
    written = [line for line in stray if "passed on by exchange/auditlog/service.py" in line]
    assert written and all("never handed over" in line for line in written), stray
    assert disclosure_path.decisions == {}


def test_an_erasure_refused_on_a_legal_ground_is_a_deny_of_the_disclosure_module(
    client: TestClient, token_for: Headers, disclosure_path: DisclosurePath
) -> None:
    """A refused rights request is on record the one way a refused disclosure is: a deny
    that the disclosure module builds and hands to a Refused."""
    body = signal_body()
    sent = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    assert sent.status_code == 201, sent.text
    response = client.post(
        "/v1/subjects/erasure",
        json={"person": {"bsn": body["person"]["bsn"]}, "reason": "verzoek per brief"},
        headers=token_for("privacy_officer"),
    )
    assert response.status_code == 409, response.text
    assert disclosure_path.stray == []
    assert disclosure_path.decisions["deny"] >= 1
