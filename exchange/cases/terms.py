"""Casework's words: where a case stands, what it is made of, how a person was reached.
Shared by the package's models, schemas and services and by the entry points (``/v1``,
``/ui``, the command line), none of which need its tables for them.
"""

from __future__ import annotations

import enum


class CaseStatus(enum.StrEnum):
    """Where a case stands. The moves between them are in ``exchange.cases.states``."""

    OPEN = "open"  # received, nobody has acted on it yet
    ASSIGNED = "assigned"  # outreach or a referral is assigned to a team or debt service
    IN_CONTACT = "in_contact"  # a contact attempt reached the person
    CLOSED = "closed"  # a result code was recorded


class Composition(enum.StrEnum):
    """The Divosa monitor's terms for what a case is made of."""

    SINGLE = "single"  # one signal, or several from one provider of one kind
    MULTIPLE = "multiple"  # two or more providers or signal kinds
    REPEAT = "repeat"  # the household had an earlier case within the repeat window


class ContactChannel(enum.StrEnum):
    LETTER = "letter"
    PHONE = "phone"
    SMS_WHATSAPP = "sms_whatsapp"
    EMAIL = "email"
    HOME_VISIT = "home_visit"
    CARD = "card"
    OTHER = "other"
    ADMINISTRATIVE = "administrative"


class PartOfDay(enum.StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"


# Contact by these channels is sent, not answered: the person cannot be "reached" by it
# (a reply is a new attempt by the channel it came by).
SENT_CHANNELS = frozenset({ContactChannel.LETTER, ContactChannel.CARD})


class AssignmentRole(enum.StrEnum):
    LEAD = "lead"  # works the case
    CO_WORKER = "co_worker"  # helps alongside the lead; leaves when its assignment ends


class HandOver(enum.StrEnum):
    """How a new assignment relates to those there are."""

    HAND_OVER = "hand_over"  # the new organisation takes over: every other assignment ends
    CO_WORKER = "co_worker"  # it joins the ones that are there


class Ended(enum.StrEnum):
    """Why an assignment stopped."""

    HANDED_OVER = "handed_over"
    ENDED = "ended"


class Act(enum.StrEnum):
    """What the history of a case records (``case_events``)."""

    ASSIGNED = "assigned"
    CO_WORKER_ADDED = "co_worker_added"
    ASSIGNMENT_ENDED = "assignment_ended"
    ATTEMPT = "attempt"
    CLOSED = "closed"
    REOPENED = "reopened"
    CONSENT_RECORDED = "consent_recorded"
    CONSENT_WITHDRAWN = "consent_withdrawn"
