"""The demo world: Rotterdam with its providers, a neighbourhood team, a debt service and a
privacy officer, each with an API client. Only organisations: signals come from clients."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.auth.service import add_client
from exchange.organisations.models import Organisation, OrganisationKind
from exchange.organisations.service import add_organisation

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
