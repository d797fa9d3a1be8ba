"""Storing, activating and loading versions of the register of processing.

A version is stored as the text of every file it was checked from, so the version in force
at any moment can be shown and re-checked later. The broker compiles each version once per
process and asks the database which version is active at the start of every disclosure
transaction, so an activation takes effect at the next disclosure on every replica.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import posixpath
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange import clock
from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.errors import ExchangeError, FieldError, InvalidInput
from exchange.policy.models import PolicyVersion
from policies.check import Problem, check_register, eligibility_path
from policies.engine import Register, load_register
from policies.intake import IntakePolicy, load_intake_policy
from policies.source import default_register_dir, read_sources


class PolicyRefused(ExchangeError):
    status = 422
    title = "The policy set has problems"
    slug = "policy-refused"


@dataclass(frozen=True)
class ActivePolicy:
    """The register in force and the intake rules it points to."""

    register: Register
    intake: IntakePolicy


def snapshot(directory: Path) -> dict[str, str]:
    """Every file a register directory is made of, by path relative to the directory."""
    sources = read_sources(directory)
    files = {source.path.name: source.path.read_text() for source in sources}
    intake = eligibility_path(directory, sources)
    if intake is not None:
        relative = os.path.relpath(intake, directory)
        files[Path(relative).as_posix()] = intake.read_text()
    return files


def activate(session: Session, directory: Path, audit: AuditTrail | None = None) -> PolicyVersion:
    """Check a register directory, store it and make it the version in force.

    A set with problems is refused whole (``PolicyRefused`` lists ``file:line: problem``)
    and the active version stays in force.
    """
    problems = check_register(directory)
    if problems:
        raise PolicyRefused(
            f"{len(problems)} problem(s); the active version stays in force",
            [FieldError(_where(p), p.message) for p in problems],
        )
    register = load_register(directory)
    version = session.scalar(
        select(PolicyVersion).where(PolicyVersion.version_hash == register.version_hash)
    )
    if version is None:
        version = PolicyVersion(
            version_hash=register.version_hash, label=register.version, files=snapshot(directory)
        )
        session.add(version)
        session.flush()
    session.execute(
        update(PolicyVersion).where(PolicyVersion.active_slot == 1).values(active_slot=None)
    )
    session.flush()
    version.active_slot = 1
    version.activated_at = clock.now()
    session.flush()
    if audit is not None:
        audit.append(
            session,
            [
                AuditRecord(
                    action="policy.activate",
                    decision="recorded",
                    actor_org=None,
                    actor_client="exchange-cli",
                    policy_version=version.version_hash,
                    resources={"policy_version": version.version_hash, "label": version.label},
                )
            ],
            version.activated_at,
        )
    return version


def ensure_active(session: Session, audit: AuditTrail | None = None) -> PolicyVersion:
    """Activate the shipped register when no version is in force yet (``exchange init``)."""
    active = session.scalar(select(PolicyVersion).where(PolicyVersion.active_slot == 1))
    return active or activate(session, default_register_dir(), audit)


_ACTIVE_VERSION = select(PolicyVersion.version_hash).where(PolicyVersion.active_slot == 1)


def activated_at(session: Session) -> dt.datetime | None:
    """When the version in force was activated (None for the shipped one, never activated)."""
    return session.scalar(select(PolicyVersion.activated_at).where(PolicyVersion.active_slot == 1))


class PolicyStore:
    """Compiled registers by version hash, materialised from the database once each."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._compiled: dict[str, ActivePolicy] = {}
        self._shipped_policy: ActivePolicy | None = None
        self._lock = threading.Lock()

    def active(self, session: Session) -> ActivePolicy:
        """The policy in force for this transaction (the shipped one if none was stored)."""
        # Asked in every transaction that decides (another replica may have activated a new
        # version a moment ago); the statement is built once (see exchange.db on hot paths).
        version_hash = session.connection().execute(_ACTIVE_VERSION).scalar()
        if version_hash is None:
            return self._shipped()
        compiled = self._compiled.get(version_hash)
        if compiled is None:
            files = session.scalar(
                select(PolicyVersion.files).where(PolicyVersion.version_hash == version_hash)
            )
            assert files is not None
            compiled = self._materialise(version_hash, files)
        return compiled

    def _shipped(self) -> ActivePolicy:
        # Read from disk once per process: the shipped files do not change under us.
        if self._shipped_policy is None:
            register = load_register()
            self._shipped_policy = self._remember(
                register.version_hash, register, default_register_dir()
            )
        return self._shipped_policy

    def _materialise(self, version_hash: str, files: dict[str, str]) -> ActivePolicy:
        with self._lock:
            if version_hash in self._compiled:
                return self._compiled[version_hash]
            root = self.cache_dir / hashlib.sha256(version_hash.encode()).hexdigest()[:16]
            directory = write_set(root, files)
            register = load_register(directory)
            if register.version_hash != version_hash:
                # The stored text no longer hashes to its own name: refuse to decide by it.
                raise RuntimeError(f"stored policy version {version_hash} fails its hash")
            return self._remember(version_hash, register, directory)

    def _remember(self, version_hash: str, register: Register, directory: Path) -> ActivePolicy:
        intake_path = eligibility_path(directory, read_sources(directory))
        policy = ActivePolicy(
            register=register,
            intake=load_intake_policy(intake_path) if intake_path else load_intake_policy(),
        )
        self._compiled[version_hash] = policy
        return policy


def write_set(root: Path, files: dict[str, str]) -> Path:
    """Write a stored policy set under ``root`` as it was activated: the register files in
    ``root/register``, the documents they name beside it (``../documents/intake.yaml`` in
    ``root/documents``). Returns the register directory; its version hash is the stored one."""
    directory = root / "register"
    for relative, text in files.items():
        target = Path(posixpath.normpath((directory / relative).as_posix()))
        if root.resolve() not in target.resolve().parents:
            raise InvalidInput(f"stored policy file {relative!r} lies outside its set")
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace_file(target, text)
    return directory


def active_files(session: Session) -> tuple[str, dict[str, str]]:
    """The version hash and the files of the policy set in force (the shipped set when none
    was activated yet)."""
    version = session.scalar(select(PolicyVersion).where(PolicyVersion.active_slot == 1))
    if version is None:
        directory = default_register_dir()
        return load_register(directory).version_hash, snapshot(directory)
    return version.version_hash, dict(version.files)


def _replace_file(target: Path, text: str) -> None:
    """Write ``target`` whole in one step (a new file renamed over it).

    Replicas share the data dir and materialise a version on first use, often at the same
    moment: with ``write_text`` one truncated a file another was reading, which then failed
    to load (a 500 for the request). A rename is atomic: a reader sees the whole old file or
    the whole new one, and both hold the same text of the same version.
    """
    with tempfile.NamedTemporaryFile(
        "w", dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
    ) as handle:
        handle.write(text)
    os.replace(handle.name, target)


def categories_of(register: Register, fields: Iterable[str]) -> tuple[str, ...]:
    """The data categories (ids) of the register that hold these fields."""
    index = _CATEGORY_INDEX.get(register.version_hash)
    if index is None:
        index = {f: category.id for category in register.categories for f in category.fields}
        _CATEGORY_INDEX[register.version_hash] = index
    return tuple(sorted({index[f] for f in fields if f in index}))


_CATEGORY_INDEX: dict[str, dict[str, str]] = {}


def _where(problem: Problem) -> str:
    return f"{problem.file}:{problem.line}"
