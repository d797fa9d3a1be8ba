"""Row ids are UUID version 7 (RFC 9562): the creation time first, so ids made later sort
later (index locality), with enough randomness that two ids never collide."""

from __future__ import annotations

import time
import uuid

from exchange.db import new_id


def test_an_id_is_a_version_7_uuid_carrying_the_time_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after
    assert uuid.UUID(str(made)) == made


def test_ids_made_in_later_milliseconds_sort_later() -> None:
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert first < second
    assert str(first) < str(second)  # in text too, as SQLite and PostgreSQL compare them


def test_ids_made_in_the_same_millisecond_are_distinct() -> None:
    ids = [new_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    # 74 random bits, not a counter: within one millisecond the order is arbitrary, and the
    # random part varies in every position.
    rand_b = {made.int & ((1 << 62) - 1) for made in ids}
    assert len(rand_b) == len(ids)
