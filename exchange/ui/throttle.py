"""Login throttling: password logins counted per account name and per client address.

Per account, so that nobody guesses one person's password, from however many addresses;
per address, so that one machine cannot try a common password on every account (password
spraying). While either is locked a login is answered 429 without running argon2, so that
guessing costs the broker no CPU either (a verification is about 0.14 s of one core).

The counts are rows of ``login_throttles``, shared by every replica behind the load balancer
and read ``FOR UPDATE`` (SQLite: under its writer lock). An attempt is counted *before* its
password is verified, in a short transaction of its own, and given back when it succeeds:
parallel guesses, on one replica or several, cannot all pass the check before the first
failure is recorded, and no lock is held while argon2 runs.

An unknown username is counted and locked exactly like a real one, by its name, so that a
lock tells nobody whether the account exists. A successful login clears its account's
count; it gives back only its own attempt to its address, so that someone with an account
of their own cannot clear the address's count for guesses at others.

Neither the name nor the address is stored, logged or audited in the clear: both become an
HMAC under a key derived from the broker's digest key. The audit entry of a lock names the
account by user id (or, for a name without an account, by that keyed hash) and the address
by its keyed hash: enough for a privacy officer to see which person was targeted, how often
and whether from one place, and to tell one attacker's address from another's; without the
key nobody learns the address (with it, an investigator can test a given address: the IPv4
space is small, so the key is what protects it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import math
from dataclasses import dataclass

import structlog
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from exchange.auditlog.service import AuditRecord, AuditSink
from exchange.db import insert_ignoring_conflicts
from exchange.ui.accounts import Credential, normalised
from exchange.ui.models import LoginThrottle
from exchange.vault.keyring import Keyring

log = structlog.get_logger("exchange.ui")

# Failures are counted in a window that starts with the first one.
WINDOW = dt.timedelta(minutes=15)
# A person who mistypes their password tries a few times and then asks for a new one; five
# tries per quarter of an hour is far more than that and, with the doubling locks below,
# leaves a guesser about fifty tries a day at one account (NIST SP 800-63B asks for at most
# 100 consecutive failures).
ACCOUNT_LIMIT = 5
# Higher than per account: all the people of one office reach the broker from one address
# (NAT), and their typos add up. Twenty still stops one machine spraying a password over
# every account.
ADDRESS_LIMIT = 20
# The first lock lasts a window; each next one within a day of the last doubles, up to half
# a working day, so that a person whose account is being attacked is back in the afternoon
# (they can always log in through their organisation's identity provider).
FIRST_LOCK = WINDOW
LONGEST_LOCK = dt.timedelta(hours=4)
# A row nobody tried for a day (and whose lock ended a day ago) is forgotten: the state is
# kept no longer than it serves.
FORGET_AFTER = dt.timedelta(hours=24)
# Idle rows deleted per attempt: bounded work on the request path.
_FORGET_AT_ONCE = 100

ACCOUNT = "account"
ADDRESS = "address"


@dataclass(frozen=True)
class LoginAttempt:
    """One password login, by the keyed hashes of its account name and its client address."""

    account_key: bytes
    address_key: bytes

    @classmethod
    def of(cls, keyring: Keyring, username: str, client_host: str | None) -> LoginAttempt:
        key = hmac.new(keyring.digest.active, b"ui-login-throttle", hashlib.sha256).digest()
        return cls(
            account_key=_keyed(key, ACCOUNT, normalised(username)),
            address_key=_keyed(key, ADDRESS, client_address(client_host)),
        )


@dataclass(frozen=True)
class Throttled:
    """The answer while an account or address is locked: try again at ``until``."""

    until: dt.datetime

    def retry_after(self, now: dt.datetime) -> int:
        """Whole seconds to wait (for ``Retry-After``), at least one."""
        return max(1, math.ceil((self.until - now).total_seconds()))


def admit(
    session: Session, audit: AuditSink, attempt: LoginAttempt, holder: Credential, now: dt.datetime
) -> Throttled | None:
    """Count the attempt against its account and its address, or refuse it.

    Refused (not counted) while either is locked. A lock starts when an attempt finds the
    limit already reached in the window: that attempt is refused too, and the lock is
    audited once, not every refused attempt after it. ``holder`` is the account the name
    belongs to, if any, for the audit entry. The caller commits before verifying the
    password.
    """
    account = _locked_row(session, attempt.account_key, ACCOUNT, now)
    address = _locked_row(session, attempt.address_key, ADDRESS, now)
    _forget_idle(session, attempt, now)
    rows = ((account, ACCOUNT_LIMIT), (address, ADDRESS_LIMIT))
    held = [row.locked_until for row, _ in rows if row.locked_until and row.locked_until > now]
    if held:
        return Throttled(max(held))
    reached = [(row, limit) for row, limit in rows if row.failures >= limit]
    if reached:
        locks = [_lock(row, limit, attempt, holder, now) for row, limit in reached]
        audit.append(session, [record for record, _ in locks], now)
        return Throttled(max(until for _, until in locks))
    for row, _ in rows:
        row.failures += 1
        row.last_attempt_at = now
    return None


def succeeded(session: Session, attempt: LoginAttempt) -> None:
    """The attempt's password matched: its account starts over (doubling included), and its
    address gets back the one attempt this login counted."""
    session.execute(
        delete(LoginThrottle).where(LoginThrottle.key == attempt.account_key),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == attempt.address_key, LoginThrottle.failures > 0)
        .values(failures=LoginThrottle.failures - 1),
        execution_options={"synchronize_session": False},
    )


def client_address(host: str | None) -> str:
    """The address attempts are counted by: an IPv4 address, or an IPv6 address's /64.

    A /64 because one subscriber line or server gets a whole /64 and can pick any address
    in it; counting single IPv6 addresses would give one attacker 2^64 fresh counters. The
    host is the ASGI client, which a trusted proxy sets (uvicorn runs with proxy_headers).
    """
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.strip().lower()[:200]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


def pseudonym(key: bytes) -> str:
    """How the audit entry names an address or an unknown name: its keyed hash, shortened."""
    return key[:16].hex()


def _keyed(key: bytes, scope: str, value: str) -> bytes:
    return hmac.new(key, f"{scope}\x00{value}".encode(), hashlib.sha256).digest()


def _locked_row(session: Session, key: bytes, scope: str, now: dt.datetime) -> LoginThrottle:
    """The throttle row of a key, locked for this transaction, as it stands at ``now``."""
    # A few times: a concurrent clean-up may delete an idle row between the insert that
    # found it there and the select that locks it (the next insert then makes it anew).
    for _ in range(3):
        insert_ignoring_conflicts(
            session,
            LoginThrottle,
            [
                {
                    "key": key,
                    "scope": scope,
                    "failures": 0,
                    "window_started_at": now,
                    "last_attempt_at": now,
                    "locked_until": None,
                    "lockouts": 0,
                }
            ],
            ["key"],
        )
        row = session.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if row is not None:
            _roll_forward(row, now)
            return row
    raise RuntimeError("a login throttle row kept disappearing")


def _roll_forward(row: LoginThrottle, now: dt.datetime) -> None:
    """Start the window (or the whole row) over where it has run out."""
    if _is_locked(row, now):
        return
    lock_passed_long_ago = row.locked_until is None or now - row.locked_until >= FORGET_AFTER
    if now - row.last_attempt_at >= FORGET_AFTER and lock_passed_long_ago:
        row.failures, row.lockouts, row.locked_until = 0, 0, None
        row.window_started_at = now
    elif row.window_started_at + WINDOW <= now:
        row.failures = 0
        row.window_started_at = now


def _is_locked(row: LoginThrottle, now: dt.datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def _lock(
    row: LoginThrottle, limit: int, attempt: LoginAttempt, holder: Credential, now: dt.datetime
) -> tuple[AuditRecord, dt.datetime]:
    """Lock the row, for twice as long as its last lock if that ended within a day; the
    audit record that says so, and when the lock ends."""
    if row.locked_until is not None and now - row.locked_until >= FORGET_AFTER:
        row.lockouts = 0
    lasting = min(FIRST_LOCK * 2 ** min(row.lockouts, 16), LONGEST_LOCK)
    row.lockouts += 1
    row.locked_until = until = now + lasting
    # Counting starts again when the lock ends.
    row.failures = 0
    row.window_started_at = until
    resources = {
        "scope": row.scope,
        "failures": str(limit),
        "window_seconds": str(int(WINDOW.total_seconds())),
        "locked_seconds": str(int(lasting.total_seconds())),
        "lockout": str(row.lockouts),
        "address": pseudonym(attempt.address_key),
    }
    if row.scope == ACCOUNT:
        resources["account"] = (
            f"user:{holder.user_id}"
            if holder.user_id is not None
            else f"name:{pseudonym(attempt.account_key)}"
        )
    log.warning(
        "ui.login_throttled",
        scope=row.scope,
        key=pseudonym(row.key),
        locked_seconds=int(lasting.total_seconds()),
    )
    record = AuditRecord(
        action="ui.login_throttled", decision="recorded", actor_org=None, resources=resources
    )
    return record, until


def _forget_idle(session: Session, attempt: LoginAttempt, now: dt.datetime) -> None:
    """Delete rows nobody tried for a day, a few at a time, skipping rows another
    transaction holds (PostgreSQL: SKIP LOCKED, so this never waits and cannot deadlock)."""
    cutoff = now - FORGET_AFTER
    idle = (
        select(LoginThrottle.key)
        .where(
            LoginThrottle.last_attempt_at < cutoff,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < cutoff),
            LoginThrottle.key.not_in([attempt.account_key, attempt.address_key]),
        )
        .limit(_FORGET_AT_ONCE)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        delete(LoginThrottle).where(LoginThrottle.key.in_(idle)),
        execution_options={"synchronize_session": False},
    )
