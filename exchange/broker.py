"""The broker's shared state: settings, database, keys, policies, token service.

Built once per process by ``Broker.start`` and shared by the API and the CLI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from audit.note import NoteSigner
from exchange import clock
from exchange.auditlog.service import AuditTrail
from exchange.auth.tokens import TokenServer, TokenValidator
from exchange.config import Settings
from exchange.db import WalCheckpointer, make_engine, make_session_factory, sqlite_file
from exchange.disclosures import Disclosures
from exchange.organisations.service import RoutingCache
from exchange.policy.service import PolicyStore
from exchange.vault.keyring import Keyring, key_source


@dataclass(frozen=True)
class Broker:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring
    policies: PolicyStore
    audit: AuditTrail
    token_server: TokenServer
    token_validator: TokenValidator
    # Set for a serving broker on a SQLite file; the server's lifespan starts and stops it.
    checkpointer: WalCheckpointer | None = None
    # The postcode ranges as this process last read them (exchange.organisations.service).
    routing: RoutingCache = field(default_factory=RoutingCache)

    @classmethod
    def start(cls, settings: Settings, *, serving: bool = False) -> Broker:
        """The broker of this process. ``serving``: a long-running server (``exchange
        serve``), which checkpoints a SQLite database's log in the background."""
        database = sqlite_file(settings.resolved_database_url) if serving else None
        engine = make_engine(
            settings.resolved_database_url, background_checkpoints=database is not None
        )
        sessions = make_session_factory(engine)
        keyring = Keyring.load(key_source(settings.resolved_keys_dir, settings.key_source))
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            keyring=keyring,
            policies=PolicyStore(settings.data_dir / "policy-cache"),
            audit=audit_trail(settings, keyring),
            token_server=TokenServer(
                sessions,
                keyring,
                settings.issuer,
                settings.token_lifetime_seconds,
                settings.mtls_client_certificate_header,
            ),
            token_validator=TokenValidator(keyring, settings.issuer),
            checkpointer=WalCheckpointer(database) if database is not None else None,
        )

    def disclosures(self, session: Session, now: dt.datetime | None = None) -> Disclosures:
        """Disclosures in ``session``'s transaction, under the register in force now."""
        moment = now or clock.now()
        register = self.policies.active(session).register
        return Disclosures(session, register, self.audit, moment, clock.local_date(moment))


def audit_trail(settings: Settings, keyring: Keyring) -> AuditTrail:
    """The audit log as this broker writes it, signing checkpoints with the active key."""
    origin = settings.resolved_audit_origin
    return AuditTrail(
        origin=origin,
        signer=NoteSigner(origin, keyring.checkpoint_key()),
        key_id=keyring.checkpoint.active_id,
        checkpoint_every=settings.audit_checkpoint_every,
    )
