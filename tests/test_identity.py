"""BSN check, normalisation and pseudonyms: the pure functions behind linking."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from exchange.identity import normalise, pseudonyms
from exchange.identity.bsn import is_valid_bsn
from tests.factories import generated_bsn

KEY = bytes(range(32))


@pytest.mark.parametrize("bsn", ["999990019", "111222333", "123456782"])
def test_bsn_passing_the_11_check_is_valid(bsn: str) -> None:
    assert is_valid_bsn(bsn)


@pytest.mark.parametrize(
    ("bsn", "why"),
    [
        ("123456789", "weighted sum 165+... is not a multiple of 11"),
        ("999990018", "last digit off by one"),
        ("000000000", "all zeros sums to 0"),
        ("12345678", "eight digits"),
        ("1234567890", "ten digits"),
        ("12345678a", "a letter"),
        ("１２３４５６７８２", "full-width digits are not ASCII"),
    ],
)
def test_bsn_failing_the_11_check_or_format_is_invalid(bsn: str, why: str) -> None:
    assert not is_valid_bsn(bsn), why


def test_generated_test_bsns_all_pass_the_11_check() -> None:
    rng = random.Random(7)
    assert all(is_valid_bsn(generated_bsn(rng)) for _ in range(500))


def test_every_single_digit_change_breaks_the_11_check() -> None:
    bsn = "999990019"
    for position in range(9):
        for digit in "0123456789":
            if digit == bsn[position]:
                continue
            changed = bsn[:position] + digit + bsn[position + 1 :]
            assert not is_valid_bsn(changed), changed


@pytest.mark.parametrize(
    ("surname", "prefix"),
    [
        ("Dijk, van", None),
        ("van Dijk", None),
        ("Dijk", "van"),
        ("Dïjk", "van"),
        ("DIJK", "Van"),
        ("  Dijk ,  van ", None),
        ("van  Dĳk", None),  # the ĳ ligature
    ],
)
def test_surname_spellings_normalise_to_one_form(surname: str, prefix: str | None) -> None:
    assert normalise.full_surname(surname, prefix) == "vandijk"


def test_person_key_meets_across_spellings_and_initials() -> None:
    birth = dt.date(1985, 6, 15)
    one = normalise.person_key(
        initials="A.", surname_prefix="van", surname="Dijk", birth_date=birth
    )
    two = normalise.person_key(
        initials="a.j.", surname_prefix=None, surname="Dïjk, van", birth_date=birth
    )
    assert one == two
    other_birthday = normalise.person_key(
        initials="A.", surname_prefix="van", surname="Dijk", birth_date=dt.date(1985, 6, 16)
    )
    assert other_birthday != one


def test_household_key_ignores_spacing_case_and_leading_zeros() -> None:
    one = normalise.household_key(postcode_text="3011 ab", house_number="010", addition="a")
    two = normalise.household_key(postcode_text="3011AB", house_number="10", addition="-A")
    assert one == two == "3011AB|10|A"
    assert normalise.household_key(postcode_text="3011AB", house_number="10", addition="B") != one


def test_pseudonyms_depend_on_the_key_and_hide_the_input() -> None:
    first = pseudonyms.person_by_bsn(KEY, "999990019")
    assert first == pseudonyms.person_by_bsn(KEY, "999990019")
    assert first != pseudonyms.person_by_bsn(bytes(32), "999990019")
    assert "999990019" not in first
    assert len(first) == 64


def test_person_and_household_pseudonyms_are_domain_separated() -> None:
    assert pseudonyms.person_by_name(KEY, "x") != pseudonyms.household(KEY, "x")
    assert pseudonyms.person_by_bsn(KEY, "x") != pseudonyms.person_by_name(KEY, "x")


def test_each_recipient_sees_its_own_pseudonym() -> None:
    broker_pseudonym = pseudonyms.person_by_bsn(KEY, "999990019")
    team = pseudonyms.for_recipient(KEY, broker_pseudonym, "team")
    debt_service = pseudonyms.for_recipient(KEY, broker_pseudonym, "debt-service")
    assert team != debt_service != broker_pseudonym
    assert team == pseudonyms.for_recipient(KEY, broker_pseudonym, "team")
