"""Rotating the broker's keys without losing data or breaking verification.

- ``kek``: a new key-encryption key becomes active; every wrapped data key (households),
  webhook secret and sealed objection reason is unwrapped with its old key and wrapped
  again, in short transactions, while the broker serves: a process that has not reloaded
  its keys finds the new key on the first miss (``SymmetricKeys.get``). The old key stays
  in the document (copies in older backups still need it) until an operator removes it.
- ``token``: a new signing key becomes active; the old one stays in the JWKS until the last
  token it signed has expired (``retired``), then leaves it at the next rotation.
- ``audit``: a new checkpoint key becomes active. A checkpoint at the current size is
  signed by the old key with an extension line ``key-rotation <new verifier key>`` and
  signed by the new key too, so an auditor's verifier, trusting the old key, learns the new
  one from the log itself (``audit.verify``).
- ``pseudonym``: a new pseudonym key becomes active; every stored household and person
  pseudonym is rehashed with it (``exchange.identity.pseudonyms.rekey``): linking goes on,
  and not one identity is opened for it.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.consents.models import Objection
from exchange.identity.models import Household, Subject
from exchange.identity.pseudonyms import rekey
from exchange.vault import envelope
from exchange.vault.keyring import Keyring, KeySource, MissingKeys, new_key_id
from exchange.webhooks.models import WebhookSubscription

FAMILY_OF = {
    "kek": "kek",
    "token": "token-signing",
    "audit": "checkpoint",
    "pseudonym": "pseudonym",
}
BATCH = 500
# A token is accepted this long after its expiry (TokenValidator's leeway).
TOKEN_LEEWAY = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Rotated:
    family: str
    old_key_id: str
    new_key_id: str


def add_key(
    source: KeySource, which: str, now: dt.datetime, token_lifetime_seconds: int = 300
) -> Rotated:
    """Add a new key to a family and make it active; the old keys stay in the document."""
    family = FAMILY_OF[which]
    document = source.load(family)
    if document is None:
        raise MissingKeys(f"no {family} keys to rotate; run 'exchange init' first")
    old = document["active"]
    key_id = new_key_id(family)
    material: Any
    if family == "token-signing":
        key = ECKey.generate_key("P-256", parameters={"kid": key_id, "use": "sig", "alg": "ES256"})
        material = key.as_dict(private=True)
        retired = {
            kid: moment
            for kid, moment in document.get("retired", {}).items()
            if dt.datetime.fromisoformat(moment) > now
        }
        # Keys whose tokens have all expired leave the document with this rotation.
        gone = set(document.get("retired", {})) - set(retired)
        document["keys"] = {k: v for k, v in document["keys"].items() if k not in gone}
        expiry = now + dt.timedelta(seconds=token_lifetime_seconds) + TOKEN_LEEWAY
        retired[old] = expiry.isoformat()
        document["retired"] = retired
    else:
        material = base64.b64encode(secrets.token_bytes(32)).decode()
    order = list(document.get("order") or [old])
    document["keys"][key_id] = material
    document["order"] = [*order, key_id]
    document["active"] = key_id
    source.store(family, document)
    return Rotated(family, old, key_id)


def rewrap(session: Session, keyring: Keyring, *, limit: int = BATCH) -> int:
    """Wrap up to ``limit`` more data keys and secrets with the active KEK; returns how many.

    Call until it returns 0, one transaction per call: rows are updated a batch at a time,
    so intake and reads go on meanwhile.
    """
    active_id, active = keyring.kek.active_id, keyring.kek.active
    done = 0
    for household in session.scalars(
        select(Household)
        .where(Household.kek_id != active_id, Household.kek_id != "shredded")
        .limit(limit)
        .with_for_update()
    ):
        data_key = envelope.unwrap_data_key(
            keyring.kek.get(household.kek_id), household.wrapped_data_key, household.id.bytes
        )
        household.wrapped_data_key = envelope.wrap_data_key(active, data_key, household.id.bytes)
        household.kek_id = active_id
        done += 1
    for subscription in session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.kek_id != active_id).limit(limit)
    ):
        secret = envelope.unwrap_data_key(
            keyring.kek.get(subscription.kek_id),
            subscription.wrapped_secret,
            subscription.id.bytes,
        )
        subscription.wrapped_secret = envelope.wrap_data_key(active, secret, subscription.id.bytes)
        subscription.kek_id = active_id
        done += 1
    for objection in session.scalars(
        select(Objection)
        .where(Objection.kek_id.is_not(None), Objection.kek_id != active_id)
        .limit(limit)
    ):
        assert objection.sealed_reason is not None and objection.kek_id is not None
        aad = b"objection:" + objection.id.bytes
        reason = envelope.open_sealed(
            keyring.kek.get(objection.kek_id), objection.sealed_reason, aad
        )
        objection.sealed_reason = envelope.seal(active, reason, aad)
        objection.kek_id = active_id
        done += 1
    session.flush()
    return done


def relink(session: Session, keyring: Keyring, *, limit: int = BATCH) -> int:
    """Rehash up to ``limit`` more stored pseudonyms to the active pseudonym key.

    A pseudonym made under key *k* gets the chain steps of the keys after *k*, so it equals
    what intake computes from the identity today. Call until it returns 0.
    """
    order = list(keyring.pseudonym.order or (keyring.pseudonym.active_id,))
    done = 0
    for model in (Subject, Household):
        rows = session.execute(
            select(model.id, model.pseudonym, model.pseudonym_key_id)
            .where(model.pseudonym_key_id != keyring.pseudonym.active_id)
            .limit(limit)
            .with_for_update()
        ).all()
        changes = []
        for row_id, pseudonym, key_id in rows:
            if key_id not in order:
                raise MissingKeys(f"pseudonym key {key_id} is not in the key order")
            for later in order[order.index(key_id) + 1 :]:
                pseudonym = rekey(keyring.pseudonym.get(later), pseudonym)
            changes.append({"id": row_id, "pseudonym": pseudonym, "pseudonym_key_id": order[-1]})
        if changes:
            session.execute(update(model), changes)
        done += len(changes)
    return done


def record_rotation(
    session: Session, audit: AuditTrail, rotated: Rotated, now: dt.datetime, **extra: str
) -> None:
    """Key rotation is an administrative action: on the log, with key ids only."""
    audit.append(
        session,
        [
            AuditRecord(
                action="keys.rotate",
                decision="recorded",
                actor_org=None,
                actor_client="exchange-cli",
                resources={
                    "family": rotated.family,
                    "old_key_id": rotated.old_key_id,
                    "new_key_id": rotated.new_key_id,
                    **extra,
                },
            )
        ],
        now,
    )
