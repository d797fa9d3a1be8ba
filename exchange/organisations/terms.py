"""The organisations' words: the kinds of organisation, and which of them provide
signals or receive them. Shared by the package's models, schemas and services and by the
entry points (``/v1``, ``/ui``, the command line), none of which need its tables for them.
"""

from __future__ import annotations

import enum


class OrganisationKind(enum.StrEnum):
    HOUSING_CORPORATION = "housing_corporation"
    ENERGY_SUPPLIER = "energy_supplier"
    WATER_COMPANY = "water_company"
    HEALTH_INSURER = "health_insurer"
    OTHER_CREDITOR = "other_creditor"
    MUNICIPALITY = "municipality"
    NEIGHBOURHOOD_TEAM = "neighbourhood_team"
    DEBT_SERVICE = "debt_service"
    PRIVACY_OFFICER = "privacy_officer"

    @property
    def is_provider(self) -> bool:
        return self in PROVIDER_KINDS

    @property
    def belongs_to_municipality(self) -> bool:
        return self in (OrganisationKind.NEIGHBOURHOOD_TEAM, OrganisationKind.DEBT_SERVICE)


PROVIDER_KINDS = frozenset(
    {
        OrganisationKind.HOUSING_CORPORATION,
        OrganisationKind.ENERGY_SUPPLIER,
        OrganisationKind.WATER_COMPANY,
        OrganisationKind.HEALTH_INSURER,
        OrganisationKind.OTHER_CREDITOR,
    }
)
RECIPIENT_KINDS = frozenset(
    {
        OrganisationKind.MUNICIPALITY,
        OrganisationKind.NEIGHBOURHOOD_TEAM,
        OrganisationKind.DEBT_SERVICE,
    }
)
