"""Registering organisations and finding which municipality covers a postcode."""

from __future__ import annotations

import bisect
import itertools
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange.errors import Conflict, FieldError, InvalidInput, NotFound
from exchange.organisations.models import Organisation, PostcodeRange, RoutingVersion
from exchange.organisations.terms import OrganisationKind

_GEMEENTECODE = re.compile(r"^\d{4}$")
_PC4_SPAN = re.compile(r"^\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?$")


def add_organisation(
    session: Session,
    *,
    kind: str,
    name: str,
    gemeentecode: str | None = None,
    postcodes: str | None = None,
    parent_id: uuid.UUID | None = None,
) -> Organisation:
    """Register an organisation; a municipality's PC4 ranges may not overlap another's."""
    try:
        org_kind = OrganisationKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in OrganisationKind)
        raise InvalidInput(
            f"unknown kind {kind!r}", [FieldError("kind", f"must be one of: {allowed}")]
        ) from None
    if not name.strip():
        raise InvalidInput("name is empty", [FieldError("name", "must not be empty")])

    spans: list[tuple[int, int]] = []
    if org_kind is OrganisationKind.MUNICIPALITY:
        if gemeentecode is None or not _GEMEENTECODE.match(gemeentecode):
            raise InvalidInput(
                "a municipality needs its 4-digit CBS gemeentecode",
                [FieldError("gemeentecode", "must be 4 digits, e.g. 0599")],
            )
        spans = parse_postcode_ranges(postcodes or "")
        _refuse_overlap(session, spans)
        if session.scalar(select(Organisation.id).where(Organisation.gemeentecode == gemeentecode)):
            raise Conflict(f"gemeentecode {gemeentecode} is already registered")
    elif gemeentecode or postcodes:
        raise InvalidInput(
            "only a municipality has a gemeentecode and postcode ranges",
            [FieldError("gemeentecode" if gemeentecode else "postcodes", "not for this kind")],
        )

    if org_kind.belongs_to_municipality:
        parent = session.get(Organisation, parent_id) if parent_id else None
        if parent is None or parent.kind != OrganisationKind.MUNICIPALITY:
            raise InvalidInput(
                f"a {org_kind.value} belongs to a municipality",
                [FieldError("parent", "must be the id of a registered municipality")],
            )
    elif parent_id is not None:
        raise InvalidInput(
            f"a {org_kind.value} has no parent organisation",
            [FieldError("parent", "only neighbourhood teams and debt services have one")],
        )

    organisation = Organisation(
        kind=org_kind.value, name=name.strip(), gemeentecode=gemeentecode, parent_id=parent_id
    )
    organisation.postcode_ranges = [PostcodeRange(pc4_from=a, pc4_to=b) for a, b in spans]
    session.add(organisation)
    session.flush()
    if spans:
        # Every process's routing table is out of date from this commit on.
        session.execute(_MOVE_ROUTING)
    return organisation


def get_organisation(session: Session, organisation_id: uuid.UUID) -> Organisation:
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"organisation {organisation_id} not found")
    return organisation


def own_municipality(session: Session, organisation_id: uuid.UUID) -> Organisation:
    """The caller's own municipality, for the reports about it (``/v1/reports``, the
    overview page); a token or session outliving its organisation finds none."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("the caller's municipality is not registered")
    return organisation


def municipality_by_code(session: Session, gemeentecode: str) -> Organisation | None:
    """The registered municipality with this CBS gemeentecode, if any."""
    return session.scalar(
        select(Organisation).where(
            Organisation.gemeentecode == gemeentecode,
            Organisation.kind == OrganisationKind.MUNICIPALITY.value,
        )
    )


def find_organisation(session: Session, organisation_id: uuid.UUID) -> Organisation | None:
    """The organisation with this id, or None where the caller decides what none means."""
    return session.get(Organisation, organisation_id)


def teams_of(session: Session, municipality_id: uuid.UUID) -> list[Organisation]:
    """The neighbourhood teams and debt services that belong to a municipality: whom it may
    assign a case to. By kind, then name."""
    return list(
        session.scalars(
            select(Organisation)
            .where(
                Organisation.parent_id == municipality_id,
                Organisation.kind.in_(
                    [OrganisationKind.NEIGHBOURHOOD_TEAM, OrganisationKind.DEBT_SERVICE]
                ),
            )
            .order_by(Organisation.kind, Organisation.name)
        )
    )


def organisation_names(
    session: Session, organisation_ids: Iterable[uuid.UUID] | None = None
) -> dict[str, str]:
    """Names by organisation id (as text), in the order of the names: of these organisations,
    or of every registered one."""
    query = select(Organisation.id, Organisation.name).order_by(Organisation.name)
    if organisation_ids is not None:
        wanted = list(organisation_ids)
        if not wanted:
            return {}
        query = query.where(Organisation.id.in_(wanted))
    return {str(organisation_id): name for organisation_id, name in session.execute(query)}


def parse_postcode_ranges(text: str) -> list[tuple[int, int]]:
    """Parse ``3000-3099,3150`` into inclusive PC4 spans."""
    spans: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _PC4_SPAN.match(part)
        if not match:
            raise InvalidInput(
                f"cannot read postcode range {part!r}",
                [FieldError("postcodes", "use PC4 ranges like 3000-3099,3150")],
            )
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if low < 1000 or high < low:
            raise InvalidInput(
                f"postcode range {part!r} is empty or out of bounds",
                [FieldError("postcodes", "PC4 runs from 1000 to 9999, low before high")],
            )
        spans.append((low, high))
    if not spans:
        raise InvalidInput(
            "a municipality covers at least one postcode area",
            [FieldError("postcodes", "give PC4 ranges like 3000-3099,3150")],
        )
    return spans


def _refuse_overlap(session: Session, spans: list[tuple[int, int]]) -> None:
    ordered = sorted(spans)
    for (_, high), (low, _) in itertools.pairwise(ordered):
        if low <= high:
            raise InvalidInput(
                "the postcode ranges overlap each other",
                [FieldError("postcodes", "ranges must not overlap")],
            )
    for low, high in spans:
        clash = session.scalar(
            select(Organisation.gemeentecode)
            .join(PostcodeRange, PostcodeRange.municipality_id == Organisation.id)
            .where(PostcodeRange.pc4_from <= high, PostcodeRange.pc4_to >= low)
            .limit(1)
        )
        if clash is not None:
            raise Conflict(
                f"postcodes {low}-{high} are already covered by municipality {clash}",
                [FieldError("postcodes", "each PC4 area belongs to one municipality")],
            )


ROUTING_VERSION_ID = 1
# Read in every intake transaction: built once (see exchange.db on hot paths).
_ROUTING_GENERATION = select(RoutingVersion.generation).where(
    RoutingVersion.id == ROUTING_VERSION_ID
)
_MOVE_ROUTING = (
    update(RoutingVersion)
    .where(RoutingVersion.id == ROUTING_VERSION_ID)
    .values(generation=RoutingVersion.generation + 1)
)
_ROUTING_SPANS = select(
    PostcodeRange.pc4_from, PostcodeRange.pc4_to, PostcodeRange.municipality_id
).order_by(PostcodeRange.pc4_from)


@dataclass(frozen=True)
class RoutingTable:
    """All PC4 ranges in memory, sorted: routing a batch costs one query and a bisect each."""

    starts: list[int]
    spans: list[tuple[int, int, uuid.UUID]]

    @classmethod
    def load(cls, session: Session) -> RoutingTable:
        rows = session.connection().execute(_ROUTING_SPANS).all()
        spans = [(low, high, municipality) for low, high, municipality in rows]
        return cls(starts=[s[0] for s in spans], spans=spans)

    def municipality_for(self, pc4: int) -> uuid.UUID | None:
        position = bisect.bisect_right(self.starts, pc4) - 1
        if position < 0:
            return None
        low, high, municipality = self.spans[position]
        return municipality if low <= pc4 <= high else None


class RoutingCache:
    """The routing table as this process last read it, with the version it read it at.

    A transaction reads the version row (one row) and gets the table it holds while the row
    has not moved; every change of the postcode ranges moves it (``add_organisation``), in
    the changing transaction, so every replica sees the change at its next transaction.
    Without the row (a database emptied by hand) nothing is kept: the table is read each
    time. The version and the table may be read at two moments of a concurrent change; the
    pair kept is then the old version with the new table, which the next transaction, seeing
    the new version, reads again: never an old table under a new version.
    """

    def __init__(self) -> None:
        self._held: tuple[int, RoutingTable] | None = None

    def table(self, session: Session) -> RoutingTable:
        generation = session.connection().execute(_ROUTING_GENERATION).scalar()
        held = self._held  # one read: another thread may replace it meanwhile
        if generation is not None and held is not None and held[0] == generation:
            return held[1]
        table = RoutingTable.load(session)
        if generation is not None:
            self._held = (generation, table)
        return table
