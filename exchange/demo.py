"""The demo world: Rotterdam with its providers, a neighbourhood team, a debt service and a
privacy officer, each with an API client; a person to log in for each receiving or
overseeing organisation; and test signals so the work queue is not empty on day one."""

from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.auth.service import add_client
from exchange.organisations.models import Organisation
from exchange.organisations.service import add_organisation
from exchange.organisations.terms import OrganisationKind
from exchange.signals.schemas import SignalIn
from exchange.ui.accounts import add_user, check_password, set_password
from exchange.ui.models import User

ROTTERDAM = "0599"


@dataclass(frozen=True)
class DemoOrganisation:
    id: str
    kind: str
    name: str
    client_id: str
    client_secret: str


def seed_demo(session: Session) -> list[DemoOrganisation]:
    """Create the demo world, or a fresh client for each demo organisation if it exists."""
    municipality = session.scalar(
        select(Organisation).where(Organisation.gemeentecode == ROTTERDAM)
    )
    if municipality is None:
        municipality = add_organisation(
            session,
            kind="municipality",
            name="Gemeente Rotterdam",
            gemeentecode=ROTTERDAM,
            postcodes="3000-3099",
        )
    wanted = [
        (OrganisationKind.HOUSING_CORPORATION, "Woonstichting De Maasoever", None),
        (OrganisationKind.ENERGY_SUPPLIER, "Energie Zuid-Holland", None),
        (OrganisationKind.WATER_COMPANY, "Waterbedrijf Rijnmond", None),
        (OrganisationKind.NEIGHBOURHOOD_TEAM, "Wijkteam Rotterdam Noord", municipality.id),
        (OrganisationKind.DEBT_SERVICE, "Schuldhulpverlening Rotterdam", municipality.id),
        (OrganisationKind.PRIVACY_OFFICER, "Functionaris gegevensbescherming", None),
    ]
    organisations = [municipality]
    for kind, name, parent in wanted:
        existing = session.scalar(
            select(Organisation).where(Organisation.kind == kind.value, Organisation.name == name)
        )
        organisations.append(
            existing or add_organisation(session, kind=kind.value, name=name, parent_id=parent)
        )
    result = []
    for organisation in organisations:
        client = add_client(session, organisation.id)
        result.append(
            DemoOrganisation(
                id=str(organisation.id),
                kind=organisation.kind,
                name=organisation.name,
                client_id=client.client_id,
                client_secret=client.client_secret,
            )
        )
    return result


def as_json(organisations: list[DemoOrganisation]) -> dict[str, object]:
    return {"organisations": [asdict(o) for o in organisations]}


@dataclass(frozen=True)
class DemoPerson:
    """A demo login for the web pages (printed by ``exchange demo``)."""

    username: str
    password: str
    organisation: str
    kind: str


DEMO_PEOPLE = {
    OrganisationKind.MUNICIPALITY: ("gemeente", "Fatima El Amrani"),
    OrganisationKind.NEIGHBOURHOOD_TEAM: ("wijkteam", "Joost de Wit"),
    OrganisationKind.DEBT_SERVICE: ("schuldhulp", "Priya Ramdin"),
    OrganisationKind.PRIVACY_OFFICER: ("fg", "Henk Verbeek"),
}


def seed_demo_people(
    session: Session,
    organisations: list[DemoOrganisation],
    known: dict[str, str] | None = None,
) -> list[DemoPerson]:
    """One person per receiving or overseeing organisation. ``known`` holds the passwords
    printed last time (username -> password): still valid, they are kept, so ``make run``
    twice shows the same logins; otherwise a new password is set."""
    known = known or {}
    people = []
    for organisation in organisations:
        wanted = DEMO_PEOPLE.get(OrganisationKind(organisation.kind))
        if wanted is None:
            continue
        username, display_name = wanted
        password = known.get(username) or secrets.token_urlsafe(12)
        user = session.scalar(select(User).where(User.username == username))
        if user is not None and check_password(session, username, password) is not None:
            pass  # the password printed before still works
        elif user is None:
            add_user(
                session,
                organisation_id=uuid.UUID(organisation.id),
                username=username,
                display_name=display_name,
                password=password,
            )
        else:
            set_password(user, password)
        people.append(DemoPerson(username, password, organisation.name, organisation.kind))
    return people


def demo_signals(today: dt.date, count: int = 36, seed: int = 599) -> list[tuple[str, SignalIn]]:
    """Test signals for the demo queue: (provider kind, signal). Test BSNs, fake names,
    Rotterdam postcodes; a few crises and one household signalled by two providers."""
    rng = random.Random(seed)  # noqa: S311 (repeatable test data, not a secret)
    surnames = ["Jansen", "de Vries", "Bakker", "Visser", "Smit", "Meijer", "El Idrissi",
                "Yilmaz", "Boateng", "Nguyen", "van Dijk", "Mulder"]  # fmt: skip
    streets = ["Zwaanshals", "Bergweg", "Vijverhofstraat", "Schiekade", "Noordsingel"]
    kinds = [
        ("housing_corporation", "rent"),
        ("energy_supplier", "energy"),
        ("water_company", "water"),
    ]
    signals = []
    for number in range(count):
        provider, kind = kinds[number % len(kinds)]
        prefix, _, surname = surnames[number % len(surnames)].rpartition(" ")
        since = today - dt.timedelta(days=rng.randint(35, 140))
        document: dict[str, object] = {
            "external_ref": f"DEMO-{kind.upper()}-{number:04d}",
            "kind": kind,
            "amount_cents": rng.randint(150, 4_800) * 100,
            "arrears_since": since.isoformat(),
            "crisis": number % 7 == 3,
            "warm_handover": number % 5 == 0,
            "person": {
                "bsn": test_bsn(rng),
                "initials": rng.choice("ABCDEHJKLMNPRSTW") + ".",
                "surname_prefix": prefix or None,
                "surname": surname,
                "birth_date": dt.date(
                    rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)
                ).isoformat(),
            },
            "address": {
                "postcode": f"30{rng.randint(10, 99)}{rng.choice('ABDH')}{rng.choice('BKMR')}",
                "house_number": str(rng.randint(1, 240)),
                "house_number_addition": None,
                "street": rng.choice(streets),
                "city": "Rotterdam",
            },
            "contact": {"phone": f"+3161{rng.randint(1_000_000, 9_999_999)}", "email": None},
            "preconditions": {
                "contact_attempted_on": (today - dt.timedelta(days=20)).isoformat(),
                "debt_help_offered_on": (today - dt.timedelta(days=20)).isoformat(),
                "reminder_sent_on": (today - dt.timedelta(days=27)).isoformat(),
                "reminder_offered_transfer": True,
                "subject_refused": False,
            },
        }
        signals.append((provider, SignalIn.model_validate(document)))
    # The same household again, from the energy supplier: a multiple case. Like most energy
    # suppliers it has no BSN: the person is the same one by name and birth date.
    first = signals[0][1].model_dump(mode="json")
    first.update(external_ref="DEMO-ENERGY-SAME-HOUSEHOLD", kind="energy", amount_cents=61_000)
    first["person"]["bsn"] = None
    signals.append(("energy_supplier", SignalIn.model_validate(first)))
    return signals


def test_bsn(rng: random.Random) -> str:
    """Nine digits passing the 11-check, starting with 9 (a range not issued to people)."""
    while True:
        digits = [9, *(rng.randint(0, 9) for _ in range(7))]
        total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
        check = total % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)
