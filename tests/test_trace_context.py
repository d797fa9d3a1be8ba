"""W3C Trace Context, as written: which ``traceparent`` values continue the caller's trace.

The cases follow the Recommendation's parsing rules (§3.2.2 and §4.3, "Versioning of
traceparent") and the kinds of header the W3C's own test suite sends: uppercase hex,
all-zero ids, version ``ff``, a future version with more fields, bad separators.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from exchange.tracing import (
    TRACESTATE_MEMBERS_KEPT,
    kept_tracestate,
    parse_traceparent,
    span_from_headers,
)
from tests.factories import signal_body

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{PARENT_ID}-01"


def test_a_version_00_traceparent_is_continued() -> None:
    parent = parse_traceparent(VALID)
    assert parent is not None
    assert (parent.trace_id, parent.parent_id, parent.flags) == (TRACE_ID, PARENT_ID, "01")


@pytest.mark.parametrize(
    "value",
    [
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",  # uppercase trace id
        f"00-{TRACE_ID}-{PARENT_ID.upper()}-01",  # uppercase parent id
        f"00-{TRACE_ID}-{PARENT_ID}-0A",  # uppercase flags
        f"0A-{TRACE_ID}-{PARENT_ID}-01",  # uppercase version
        f"00-{'0' * 32}-{PARENT_ID}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE_ID}-{PARENT_ID}-01",  # version ff is forbidden
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE_ID}-{PARENT_ID}-1",  # short flags
        f"00_{TRACE_ID}_{PARENT_ID}_01",  # wrong separators
        f"00-{TRACE_ID[:-1]}g-{PARENT_ID}-01",  # not hex
        f"01-{TRACE_ID}-{PARENT_ID}-01.",  # a future version's extra part must follow a dash
        f"01-{TRACE_ID}-{PARENT_ID}",  # a future version is still at least 55 characters
        "",
    ],
)
def test_an_invalid_traceparent_is_ignored(value: str) -> None:
    assert parse_traceparent(value) is None


def test_a_future_version_is_parsed_as_version_00_and_its_extra_fields_skipped() -> None:
    parent = parse_traceparent(f"cc-{TRACE_ID}-{PARENT_ID}-09-what-the-future-holds")
    assert parent is not None
    assert (parent.version, parent.trace_id, parent.parent_id) == ("cc", TRACE_ID, PARENT_ID)
    assert parent.flags == "09"


def test_a_future_version_of_exactly_55_characters_is_parsed() -> None:
    parent = parse_traceparent(f"01-{TRACE_ID}-{PARENT_ID}-00")
    assert parent is not None and parent.trace_id == TRACE_ID


def test_tracestate_is_kept_with_a_valid_traceparent() -> None:
    span = span_from_headers(
        [
            (b"traceparent", VALID.encode()),
            (b"tracestate", b"congo=t61rcWkgMzE"),
            (b"tracestate", b"rojo=00f067aa0ba902b7, ,"),
        ]
    )
    assert span.trace_id == TRACE_ID and span.parent_id == PARENT_ID
    assert span.span_id != PARENT_ID
    assert span.tracestate == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


def test_tracestate_is_dropped_with_an_invalid_traceparent() -> None:
    span = span_from_headers(
        [
            (b"traceparent", VALID.upper().encode()),
            (b"tracestate", b"congo=t61rcWkgMzE"),
        ]
    )
    assert span.trace_id != TRACE_ID.upper().lower()
    assert span.parent_id is None and span.tracestate is None


def test_two_traceparent_headers_start_a_new_trace() -> None:
    other = f"00-{'a' * 32}-{PARENT_ID}-01"
    span = span_from_headers([(b"traceparent", VALID.encode()), (b"traceparent", other.encode())])
    assert span.trace_id not in (TRACE_ID, "a" * 32)


def test_tracestate_keeps_at_most_32_members() -> None:
    lines = [",".join(f"v{index}=x" for index in range(40))]
    kept = kept_tracestate(lines)
    assert kept is not None
    assert kept.split(",") == [f"v{index}=x" for index in range(TRACESTATE_MEMBERS_KEPT)]


def test_the_broker_continues_a_valid_trace_and_restarts_an_uppercase_one(
    client: TestClient, provider: dict[str, str]
) -> None:
    continued = client.post(
        "/v1/signals", json=signal_body(), headers=provider | {"traceparent": VALID}
    )
    assert continued.status_code == 201
    assert continued.headers["traceparent"].split("-")[1] == TRACE_ID

    restarted = client.post(
        "/v1/signals",
        json=signal_body(),
        headers=provider | {"traceparent": VALID.replace(TRACE_ID, TRACE_ID.upper())},
    )
    assert restarted.status_code == 201
    assert restarted.headers["traceparent"].split("-")[1] != TRACE_ID
