"""Schemathesis over every operation of ``/openapi.json``, as every role: no input is a 5xx.

Each operation gets three kinds of request:

- Schemathesis's coverage cases: the boundaries its coverage phase derives from the schema
  (minimum and maximum, missing and extra fields, wrong types), spread over the roles that
  may call the operation.
- Edge cases: a request that passes every check, with one value at a time (or both ends of
  a range at once) at an edge the coverage phase leaves out: integers past 64 bits, the
  first and the last day Python knows, instants there with an offset or without one, text
  with a NUL. The requests that pass every check are the coverage phase's own where that
  suffices, else written below (``_valid_requests``), since no schema knows the 11-check.
- Fuzzed cases, valid and invalid, from a fixed seed, as every role: a token for each demo
  organisation kind through the real token flow (renewed at half its lifetime, for long
  runs), and no token at all. Half of them use the
  ids of a real signal, case and consent in the path, so the handlers behind the 404 run.

In ``make test`` the run is bounded (a few thousand requests per backend, deterministic:
the seed is fixed, Hypothesis derandomized, the database emptied after each test). For a
release check, raise the fuzzed examples per operation and role:

    EXCHANGE_SCHEMATHESIS_EXAMPLES=500 .venv/bin/pytest tests/test_schemathesis.py -s

which prints the requests sent, the server errors and the time taken. Two things decide: no
answer is a server error, and every answer is as the document says (Schemathesis's status
code, content type, header and schema conformance checks). Its checks that judge the
broker's choices rather than the document (positive data accepted, negative data refused)
are not asserted: no schema knows the 11-check, or that a date lies in the future.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import itertools
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from exchange.auth.guards import AccessRule
from exchange.broker import Broker
from exchange.clock import today
from exchange.demo import DemoOrganisation
from tests.conftest import ISSUER
from tests.factories import generated_bsn, signal_body

SEED = 20_261_201
# Schemathesis's own checks that an answer is what /openapi.json says it is.
AS_DOCUMENTED = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZED_EXAMPLES = int(os.environ.get("EXCHANGE_SCHEMATHESIS_EXAMPLES", "6"))
# A role the route refuses is answered by the guard before any input is looked at.
REFUSED_EXAMPLES = 2
ROLES: tuple[str | None, ...] = (
    None,  # no token
    "municipality",
    "housing_corporation",
    "energy_supplier",
    "water_company",
    "neighbourhood_team",
    "debt_service",
    "privacy_officer",
)
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# The coverage case for a batch's maxItems holds 10,000 signals: as an edge base, one of its
# items says as much at a ten-thousandth of the cost.
MAX_BASE_LEAVES = 100
EDGE_INTEGERS = (2**63 - 1, 2**63, -(2**63) - 1, 2**64)
EDGE_DAYS = ("0001-01-01", "9999-12-31")
EDGE_INSTANTS = (
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-09-01T12:00:00",  # no offset
)
_INTEGER = re.compile(r"-?[0-9]+")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T")
Headers = Callable[[str], dict[str, str]]
World = dict[str, DemoOrganisation]
# A request as parts: {"path_parameters": {...}, "query": {...}} and "body" if it has one.
Parts = dict[str, Any]


@dataclass
class Run:
    """What was sent and what came back, over the whole run."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    # Answers the OpenAPI document does not describe: a status, media type or body.
    not_as_documented: list[str] = field(default_factory=list)
    # A /v1 request with a token answered 401: the harness's fault (an expired token), and
    # such a request tested nothing behind the guard.
    refused_tokens: int = 0

    def send(self, case: Case, role: str | None, headers: dict[str, str]) -> None:
        self.requests += 1
        try:
            response = case.call(base_url=ISSUER, headers=headers)
        except Exception as error:  # the app raises on, past the 500 it answered
            self._failed(case, role, headers, f"raised {type(error).__name__}: {error}")
            return
        self.statuses[response.status_code] += 1
        if response.status_code == 401 and headers and case.operation.path.startswith("/v1/"):
            self.refused_tokens += 1
        # Schemathesis raises its failures as an exception group (a BaseException).
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except (Exception, BaseExceptionGroup):
            self._failed(case, role, headers, f"answered {response.status_code}")
            return
        try:
            case.validate_response(response, checks=AS_DOCUMENTED)
        except (Exception, BaseExceptionGroup) as failure:
            self.not_as_documented.append(
                f"{case.operation.label} as {role or 'no token'} answered "
                f"{response.status_code}: {str(failure)[:400]}"
            )

    def summary(self, seconds: float) -> str:
        return (
            f"schemathesis: {self.requests} requests, {len(self.server_errors)} server errors, "
            f"{seconds:.0f} s; statuses {dict(sorted(self.statuses.items()))}"
        )

    def _failed(self, case: Case, role: str | None, headers: dict[str, str], what: str) -> None:
        command = case.as_curl_command(headers=headers, base_url=ISSUER)
        self.server_errors.append(f"{case.operation.label} as {role or 'no token'} {what}")
        self.server_errors.append(f"  {command}")


def test_no_request_of_any_role_is_a_server_error(
    client: TestClient, broker: Broker, world: World
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    schema.config.generation.update(modes=MODES, deterministic=True)
    token_for = _tokens(client, world, broker.settings.token_lifetime_seconds)
    real_ids = _real_resources(client, token_for, world)
    valid_requests = _valid_requests(world, real_ids)
    kinds = permitted_kinds(client.app)
    run = Run()
    started = time.monotonic()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            key = (operation.method.upper(), operation.path)
            allowed = _allowed_roles(kinds.get(key))
            coverage = list(
                schema.iter_coverage_cases(
                    operation, generation_modes=MODES, generation_config=schema.config.generation
                )
            )
            edges = _edge_cases(operation, coverage, valid_requests.get(key))
            for index, case in enumerate(itertools.chain(coverage, edges)):
                role = allowed[index % len(allowed)]
                run.send(case, role, _headers(token_for, role))
            strategy = _fuzzing(operation, real_ids)
            for role in ROLES:
                examples = FUZZED_EXAMPLES if role in allowed else REFUSED_EXAMPLES
                _fuzz(run, operation, strategy, role, _headers(token_for, role), examples)
    finally:
        asgi.shutdown_lifespans()
    print("\n" + run.summary(time.monotonic() - started))
    shown = "\n".join(run.server_errors[:60])
    assert not run.server_errors, f"{len(run.server_errors) // 2} server errors:\n{shown}"
    assert run.refused_tokens == 0, "tokens were refused mid-run: the run tested less"
    documented = "\n".join(run.not_as_documented[:30])
    assert not run.not_as_documented, (
        f"{len(run.not_as_documented)} answers not as documented:\n{documented}"
    )


# -- edge cases -----------------------------------------------------------------------------


def _edge_cases(
    operation: Any, coverage: list[Case], valid: Callable[[], Parts] | None
) -> Iterator[Case]:
    """A valid request with one value at a time at an edge, then with every day (and every
    instant) at one edge at once: a period or a range whose two ends are both out."""
    fullest, smallest = _valid_coverage_parts(coverage)
    if valid is not None:
        fullest = smallest = valid
    if fullest is None or smallest is None:
        return
    sample = fullest()
    for location in ("path_parameters", "query"):
        for name, value in sample[location].items():
            for item in value if isinstance(value, list) else [value]:
                for edge in _edges(item):
                    parts = smallest()
                    parts[location][name] = [edge] if isinstance(value, list) else edge
                    yield _case(operation, parts)
    for path, value in _leaves(sample.get("body")):
        for edge in _edges(value):
            parts = fullest()
            _put(parts["body"], path, edge)
            yield _case(operation, parts)
    for pattern, group in ((_DAY, EDGE_DAYS), (_INSTANT, EDGE_INSTANTS)):
        for edge in group:
            parts = fullest()
            if _replace_all(parts, pattern, edge) > 1:
                yield _case(operation, parts)


def _valid_coverage_parts(
    coverage: list[Case],
) -> tuple[Callable[[], Parts] | None, Callable[[], Parts] | None]:
    """The fullest and the smallest of the coverage phase's valid cases, as part makers."""
    sized = [
        (sum(1 for _ in _leaves(_parts(case))), case)
        for case in coverage
        if case.meta is not None and case.meta.generation.mode.is_positive
    ]
    sized = [(size, case) for size, case in sized if size <= MAX_BASE_LEAVES]
    if not sized:
        return None, None
    fullest = max(sized, key=lambda pair: pair[0])[1]
    smallest = min(sized, key=lambda pair: pair[0])[1]
    return (lambda: _parts(fullest)), (lambda: _parts(smallest))


def _parts(case: Case) -> Parts:
    parts: Parts = {
        "path_parameters": copy.deepcopy(case.path_parameters or {}),
        "query": copy.deepcopy(case.query or {}),
    }
    if case.body is not NOT_SET:
        parts["body"] = copy.deepcopy(case.body)
    return parts


def _case(operation: Any, parts: Parts) -> Case:
    return operation.Case(
        path_parameters=parts["path_parameters"],
        query=parts["query"],
        body=parts.get("body", NOT_SET),
        media_type="application/json" if "body" in parts else None,
    )


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    elif path:
        yield path, value


def _put(container: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        container = container[step]
    container[path[-1]] = value


def _replace_all(parts: Parts, pattern: re.Pattern[str], edge: str) -> int:
    """Put ``edge`` in place of every value that looks like ``pattern``; how many there were."""
    replaced = 0
    for location in ("query", "body"):
        for path, value in list(_leaves(parts.get(location))):
            if isinstance(value, str) and pattern.match(value):
                _put(parts[location], path, edge)
                replaced += 1
    return replaced


def _edges(value: Any) -> Iterator[Any]:
    if isinstance(value, bool) or value is None:
        return
    # Query and path values are strings on the wire; a body keeps its JSON types.
    as_text = isinstance(value, str)
    if isinstance(value, int) or (as_text and _INTEGER.fullmatch(value)):
        for number in EDGE_INTEGERS:
            yield str(number) if as_text else number
    if as_text:
        if _DAY.fullmatch(value):
            yield from EDGE_DAYS
        elif _INSTANT.match(value):
            yield from EDGE_INSTANTS
        yield value + "\x00"


def _valid_requests(
    world: World, ids: dict[str, str]
) -> dict[tuple[str, str], Callable[[], Parts]]:
    """Requests that pass every check of their operation, each made fresh (a new person, a
    new external reference) so that an edge is not answered as a duplicate. Operations
    not here take the coverage phase's valid cases, which pass where the schema says all."""
    rng = random.Random(SEED)
    references = itertools.count(1)
    now = today()

    def person() -> dict[str, Any]:
        return {"bsn": generated_bsn(rng)}

    def signal() -> dict[str, Any]:
        return signal_body(
            external_ref=f"SCHEMATHESIS-{next(references):05d}",
            person={"bsn": generated_bsn(rng), "surname": "Testsma"},
        )

    def body(value: Callable[[], Any], **path_parameters: str) -> Callable[[], Parts]:
        return lambda: {"path_parameters": path_parameters, "query": {}, "body": value()}

    day = now.isoformat()
    consent = {
        "purposes": ["debt-service-referral"],
        "recipients": [world["debt_service"].id],
        "collection_method": "in_person",
        "notice_version": "2026-01",
        "valid_from": day,
        "valid_until": (now + dt.timedelta(days=180)).isoformat(),
    }
    corrections = {
        "initials": "Q.",
        "surname_prefix": "van",
        "surname": "Proefhuis",
        "street": "Proefstraat",
        "city": "Rotterdam",
        "phone": "+31612345678",
        "email": "testpersoon@example.test",
    }
    case_id = ids["case_id"]
    return {
        ("POST", "/v1/signals"): body(signal),
        ("POST", "/v1/signals/batch"): body(lambda: {"signals": [signal()]}),
        ("POST", "/v1/consents"): body(lambda: {"person": person(), **consent}),
        ("POST", "/v1/consents/search"): body(lambda: {"person": person()}),
        ("POST", "/v1/consents/{consent_id}/withdrawal"): body(
            lambda: {"effective_on": day}, consent_id=ids["consent_id"]
        ),
        ("POST", "/v1/objections"): body(
            lambda: {"person": person(), "purposes": ["debt-service-referral"], "reason": "nee"}
        ),
        ("POST", "/v1/audit/entries/search"): body(
            lambda: {
                "person": person(),
                "purpose": "debt-service-referral",
                "action": "consent.give",
                "organisation": world["municipality"].id,
                "since": "2026-01-01T00:00:00Z",
                "until": "2027-01-01T00:00:00+01:00",
                "after": 0,
                "limit": 10,
            }
        ),
        ("POST", "/v1/audit/access-report"): body(lambda: {"person": person()}),
        ("POST", "/v1/subjects/erasure"): body(lambda: {"person": person(), "reason": "ja"}),
        ("POST", "/v1/subjects/restriction"): body(lambda: {"person": person(), "reason": "ja"}),
        ("POST", "/v1/subjects/rectification"): body(
            lambda: {"person": person(), "reason": "ja", "corrections": dict(corrections)}
        ),
        ("POST", "/v1/cases/{case_id}/assignment"): body(
            lambda: {"organisation_id": world["neighbourhood_team"].id}, case_id=case_id
        ),
        ("POST", "/v1/cases/{case_id}/contact-attempts"): body(
            lambda: {
                "channel": "home_visit",
                "date": day,
                "part_of_day": "afternoon",
                "reached": False,
                "note": "niet thuis",
            },
            case_id=case_id,
        ),
        ("GET", "/v1/reports/ddas"): lambda: {
            "path_parameters": {},
            "query": {"municipality": "0599", "from": "2026-01-01", "to": "2026-01-31"},
        },
    }


# -- fuzzed cases ---------------------------------------------------------------------------


def _fuzz(
    run: Run,
    operation: Any,
    strategy: st.SearchStrategy[Case],
    role: str | None,
    headers: dict[str, str],
    examples: int,
) -> None:
    # Every error is collected rather than raised, so nothing is shrunk or replayed: the
    # count of requests stays what the settings say, and one run lists every failure.
    @seed(_seed_for(f"{operation.label} {role}"))
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(strategy)
    def probe(case: Case) -> None:
        run.send(case, role, headers)

    probe()


def _fuzzing(operation: Any, real_ids: dict[str, str]) -> st.SearchStrategy[Case]:
    """Generated cases, and as many again with the ids of real objects in the path."""
    generated = st.one_of(*(operation.as_strategy(mode) for mode in MODES))
    names = {parameter.name for parameter in operation.path_parameters}
    real = {name: value for name, value in real_ids.items() if name in names}
    if not real:
        return generated
    with_real_ids = st.one_of(*(operation.as_strategy(m, path_parameters=real) for m in MODES))
    return generated | with_real_ids


def _seed_for(label: str) -> int:
    # A stable mix of the run's seed and what is fuzzed: each operation and role draws its
    # own cases, the same ones on every run.
    digest = hashlib.blake2b(f"{SEED}:{label}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# -- the world the requests meet ------------------------------------------------------------


def _real_resources(client: TestClient, token_for: Headers, world: World) -> dict[str, str]:
    """A signal (and so a case) and a consent, for path parameters that name real ones."""
    sent = client.post("/v1/signals", json=signal_body(), headers=token_for("housing_corporation"))
    assert sent.status_code == 201, sent.text
    consent = client.post(
        "/v1/consents",
        json={
            "person": {"bsn": generated_bsn()},
            "purposes": ["debt-service-referral"],
            "recipients": [world["debt_service"].id],
            "collection_method": "in_person",
            "notice_version": "2026-01",
            "valid_until": (today() + dt.timedelta(days=180)).isoformat(),
        },
        headers=token_for("municipality"),
    )
    assert consent.status_code == 201, consent.text
    return {
        "signal_id": sent.json()["id"],
        "case_id": sent.json()["case_id"],
        "consent_id": consent.json()["id"],
    }


def _tokens(client: TestClient, world: World, lifetime: int) -> Headers:
    """Authorization headers by organisation kind, through the real token flow like the
    ``token_for`` fixture, but new ones once half their lifetime is gone: a longer run
    takes more than the five minutes a token lasts."""
    issued: dict[str, tuple[float, dict[str, str]]] = {}

    def headers(kind: str) -> dict[str, str]:
        known = issued.get(kind)
        if known is None or time.monotonic() - known[0] > lifetime / 2:
            response = client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(world[kind].client_id, world[kind].client_secret),
            )
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            known = (time.monotonic(), {"Authorization": f"Bearer {token}"})
            issued[kind] = known
        return known[1]

    return headers


def _headers(token_for: Headers, role: str | None) -> dict[str, str]:
    return token_for(role) if role is not None else {}


def _allowed_roles(kinds: frozenset[str] | None) -> list[str | None]:
    """The roles a route admits, in ``ROLES`` order; every role for routes without a rule
    (the token endpoint, the JWKS)."""
    if kinds is None:
        return list(ROLES)
    return [role for role in ROLES if role in kinds] or [None]


def permitted_kinds(app: Any) -> dict[tuple[str, str], frozenset[str]]:
    """(method, path) -> the organisation kinds the route's ``@requires`` names."""
    rules: dict[tuple[str, str], frozenset[str]] = {}
    for method, path, endpoint in _routes(app.routes, ""):
        rule = getattr(endpoint, "__access_rule__", None)
        if isinstance(rule, AccessRule):
            rules[(method, path)] = frozenset(kind.value for kind in rule.kinds)
    return rules


def _routes(routes: Iterable[Any], prefix: str) -> Iterator[tuple[str, str, Any]]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI keeps an included router whole, with its prefix
            yield from _routes(included.routes, prefix + route.include_context.prefix)
            continue
        for method in getattr(route, "methods", None) or ():
            yield method, prefix + route.path, getattr(route, "endpoint", None)
