"""Working days under the Algemene termijnenwet, and the casework deadlines built on them."""

from __future__ import annotations

import datetime as dt

import pytest

from exchange.cases.states import TRANSITIONS, Move, next_status, schedule
from exchange.cases.terms import CaseStatus
from exchange.errors import Conflict
from policies.calendar import add_working_days, easter_sunday, holidays, is_working_day
from policies.casework import FeedbackCode, ResultCode, load_casework_policy

D = dt.date


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2024, D(2024, 3, 31)), (2025, D(2025, 4, 20)), (2026, D(2026, 4, 5)), (2027, D(2027, 3, 28))],
)
def test_easter_sunday_matches_the_published_dates(year: int, easter: dt.date) -> None:
    assert easter_sunday(year) == easter


def test_the_2026_holidays_of_the_algemene_termijnenwet() -> None:
    assert sorted(holidays(2026)) == [
        D(2026, 1, 1),
        D(2026, 4, 6),  # Easter Monday
        D(2026, 4, 27),  # King's Day
        D(2026, 5, 5),  # Liberation Day counts every year under this act
        D(2026, 5, 14),  # Ascension Day
        D(2026, 5, 25),  # Whit Monday
        D(2026, 12, 25),
        D(2026, 12, 26),
    ]
    assert D(2026, 4, 3) not in holidays(2026)  # Good Friday is not one


def test_king_s_day_moves_to_saturday_when_the_27th_is_a_sunday() -> None:
    assert D(2025, 4, 26) in holidays(2025) and D(2025, 4, 27) not in holidays(2025)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (D(2026, 11, 20), D(2026, 11, 25)),  # Friday + 3 working days = Wednesday
        (D(2026, 11, 25), D(2026, 11, 30)),  # Wednesday -> Monday over the weekend
        (D(2026, 12, 23), D(2026, 12, 29)),  # over Christmas: 24, 28, 29
        (D(2026, 4, 2), D(2026, 4, 8)),  # Thursday before Easter: Fri 3, Tue 7, Wed 8
        (D(2026, 5, 4), D(2026, 5, 8)),  # over Liberation Day: 6, 7, 8
    ],
)
def test_three_working_days_skip_weekends_and_holidays(start: dt.date, due: dt.date) -> None:
    assert add_working_days(start, 3) == due
    assert not is_working_day(D(2026, 11, 28))


def test_a_crisis_brings_the_first_contact_forward_and_never_pushes_it_back() -> None:
    policy = load_casework_policy()
    opened = D(2026, 11, 2)
    plain = schedule(
        policy, opened_on=opened, crisis_on=None, first_attempt_on=None, first_reached_on=None
    )
    assert plain.contact_due_on == D(2026, 11, 16)
    assert plain.conversation_due_on == D(2026, 11, 30)
    assert (plain.deadline_on, plain.deadline_kind) == (D(2026, 11, 16), "first_contact_attempt")
    crisis = schedule(
        policy,
        opened_on=opened,
        crisis_on=D(2026, 11, 6),
        first_attempt_on=None,
        first_reached_on=None,
        contact_due_on=plain.contact_due_on,
    )
    assert crisis.contact_due_on == D(2026, 11, 11)
    late_crisis = schedule(
        policy,
        opened_on=opened,
        crisis_on=D(2026, 11, 20),
        first_attempt_on=None,
        first_reached_on=None,
        contact_due_on=plain.contact_due_on,
    )
    assert late_crisis.contact_due_on == D(2026, 11, 16)
    attempted = schedule(
        policy,
        opened_on=opened,
        crisis_on=None,
        first_attempt_on=D(2026, 11, 3),
        first_reached_on=None,
    )
    assert (attempted.deadline_on, attempted.deadline_kind) == (
        D(2026, 11, 30),
        "first_conversation",
    )
    reached = schedule(
        policy,
        opened_on=opened,
        crisis_on=None,
        first_attempt_on=D(2026, 11, 3),
        first_reached_on=D(2026, 11, 4),
    )
    assert reached.deadline_on is None


def test_every_result_code_has_feedback_and_not_picked_up_codes_say_so() -> None:
    policy = load_casework_policy()
    for code in ResultCode:
        feedback = policy.feedback_for_result(code)
        assert (feedback is FeedbackCode.NOT_PICKED_UP) == (not code.picked_up), code
    assert policy.collection_paused_until(FeedbackCode.IN_CONTACT, D(2026, 1, 1)) == D(2026, 1, 29)
    assert policy.collection_paused_until(FeedbackCode.CLOSED, D(2026, 1, 1)) is None


def test_the_state_machine_refuses_every_move_from_closed_and_names_the_status() -> None:
    # A closed case can only be opened again (within the period) or lose an assignment.
    after_closing = {Move.REOPEN: CaseStatus.OPEN, Move.END_ASSIGNMENT: CaseStatus.CLOSED}
    for move, status in after_closing.items():
        assert next_status("closed", move) is status
    for move in set(Move) - set(after_closing):
        assert (CaseStatus.CLOSED, move) not in TRANSITIONS
        with pytest.raises(Conflict) as refused:
            next_status("closed", move)
        assert refused.value.errors[0].message == "is closed"
    assert next_status("open", Move.REACH) is CaseStatus.IN_CONTACT
    assert next_status("in_contact", Move.ASSIGN) is CaseStatus.IN_CONTACT
    assert next_status("assigned", Move.ATTEMPT) is CaseStatus.ASSIGNED
