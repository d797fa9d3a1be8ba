"""The ``exchange`` command line: set up, serve, register organisations and clients."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import secrets
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from audit.verify import VerificationReport
from exchange import clock
from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.auth.service import add_client, registered_clients
from exchange.broker import audit_trail
from exchange.config import Settings
from exchange.db import make_engine, make_session_factory, migrate, unit_of_work
from exchange.demo import (
    DemoOrganisation,
    DemoPerson,
    as_json,
    demo_signals,
    seed_demo,
    seed_demo_people,
)
from exchange.errors import ExchangeError
from exchange.ops import identities
from exchange.organisations.service import add_organisation, municipality_by_code
from exchange.organisations.terms import OrganisationKind
from exchange.policy.service import (
    PolicyRefused,
    PolicyStore,
    activate,
    active_files,
    ensure_active,
    write_set,
)
from exchange.reports.ddas import DdasVersion, build_ddas
from exchange.reports.period import period
from exchange.ui.accounts import add_user
from exchange.vault.keyring import FileKeySource, Keyring, ensure_keys, key_source
from policies.check import check_register
from policies.engine import load_register
from policies.render import render_html, render_markdown
from policies.source import default_register_dir

app = typer.Typer(
    help="The signal exchange broker.", no_args_is_help=True, pretty_exceptions_enable=False
)
org_app = typer.Typer(help="Register organisations.", no_args_is_help=True)
client_app = typer.Typer(help="Register API clients.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(client_app, name="client")
policy_app = typer.Typer(
    help="The register of processing: check, activate, show.", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")
audit_app = typer.Typer(help="The audit log: checkpoints and exports.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
webhooks_app = typer.Typer(help="Webhooks to providers: send due deliveries.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
report_app = typer.Typer(help="Reports: the DDAS delivery to CBS.", no_args_is_help=True)
app.add_typer(report_app, name="report")
user_app = typer.Typer(help="People who log in to the web pages.", no_args_is_help=True)
app.add_typer(user_app, name="user")
cases_app = typer.Typer(help="Casework: deadlines that passed.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
keys_app = typer.Typer(help="The broker's keys: rotation.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DEMO_FILE = "demo-clients.json"
EXAMPLE_FILE = "example-signal.json"


@app.command()
def init() -> None:
    """Create the data dir, the keys and the database schema. Safe to run again."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created = ensure_keys(FileKeySource(settings.resolved_keys_dir))
    migrate(settings.resolved_database_url)
    with _session() as session:
        policy_version = ensure_active(session, _audit_trail()).version_hash
    linked = _link_stored_identifiers(settings)
    _emit(
        {
            "data_dir": str(settings.data_dir.resolve()),
            "keys_created": created,
            "database": _redacted(settings.resolved_database_url),
            "migrated": True,
            "identifiers_linked": linked,
            "policy_version": policy_version,
        }
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the broker's HTTP API."""
    import uvicorn

    from exchange.api.app import create_app
    from exchange.api.server import LimitedHttpToolsProtocol

    # The server also sends due webhooks every EXCHANGE_WEBHOOK_INTERVAL_SECONDS.
    application = create_app(Settings(), background_jobs=True)
    # A batch of 10,000 signals allocates millions of short-lived objects; with the default
    # thresholds the cyclic collector ran ~1,400 times per batch and took half its time.
    # Freezing what start-up built and collecting less often halves that (BENCHMARKS.md).
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        # The request line and headers are held to the broker's limits while parsed.
        http=LimitedHttpToolsProtocol,
    )


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option(help="Write the document here instead of to stdout.")
    ] = None,
    issuer: Annotated[
        str | None, typer.Option(help="The broker's URL; default: EXCHANGE_ISSUER.")
    ] = None,
) -> None:
    """Print the OpenAPI document of the API (for client generators and linters)."""
    from exchange.api.app import api_document

    document = api_document(issuer or Settings().issuer)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@org_app.command("add")
def org_add(
    kind: Annotated[str, typer.Option(help="Organisation kind, e.g. housing_corporation.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    gemeentecode: Annotated[
        str | None, typer.Option(help="CBS municipality code (municipalities only).")
    ] = None,
    postcodes: Annotated[
        str | None, typer.Option(help="PC4 ranges covered, e.g. 3000-3099,3150.")
    ] = None,
    parent: Annotated[
        str | None, typer.Option(help="Municipality id (neighbourhood teams, debt services).")
    ] = None,
) -> None:
    """Register an organisation; prints {"id": ...}."""
    with _session() as session:
        organisation = _run(
            lambda: add_organisation(
                session,
                kind=kind,
                name=name,
                gemeentecode=gemeentecode,
                postcodes=postcodes,
                parent_id=_uuid(parent, "--parent") if parent else None,
            )
        )
        _record(
            session,
            "organisation.add",
            {"organisation": str(organisation.id), "kind": organisation.kind},
        )
        _emit({"id": str(organisation.id), "kind": organisation.kind, "name": organisation.name})


@client_app.command("add")
def client_add(
    org: Annotated[str, typer.Option(help="Organisation id.")],
    scopes: Annotated[
        str | None, typer.Option(help="Space-separated scopes; default fits the kind.")
    ] = None,
    jwks: Annotated[
        Path | None,
        typer.Option(
            help="The client's public JWK Set (JSON file): it authenticates with "
            "private_key_jwt (RFC 7523) and gets no secret.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    certificate: Annotated[
        Path | None,
        typer.Option(
            help="The client's certificate (PEM, e.g. PKIoverheid): its tokens are bound "
            "to it and count only over mutual TLS with it (RFC 8705).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Create an API client; prints {"client_id": ..., "client_secret": ...} once.

    With --jwks the client signs its token requests with its own key and there is no
    secret to print.
    """
    if certificate is not None and not Settings().mtls_client_certificate_header:
        typer.echo(
            "warning: mtls_client_certificate_header is not set, so this client cannot get a "
            "token until the broker runs behind a proxy that passes client certificates on",
            err=True,
        )
    with _session() as session:
        client = _run(
            lambda: add_client(
                session,
                _uuid(org, "--org"),
                scopes,
                jwks=jwks.read_text() if jwks is not None else None,
                certificate=certificate.read_bytes() if certificate is not None else None,
            )
        )
        _record(
            session,
            "client.add",
            {
                "organisation": org,
                "client": client.client_id,
                "scopes": client.scopes,
                "token_endpoint_auth_method": client.token_endpoint_auth_method,
                "certificate_bound": str(client.certificate_thumbprint is not None).lower(),
            },
        )
        shown: dict[str, object] = {"client_id": client.client_id}
        if client.client_secret:
            shown["client_secret"] = client.client_secret
        shown["scopes"] = client.scopes
        shown["token_endpoint_auth_method"] = client.token_endpoint_auth_method
        if client.certificate_thumbprint is not None:
            shown["x5t#S256"] = client.certificate_thumbprint
        _emit(shown)


@policy_app.command("check")
def policy_check(
    directory: Annotated[
        Path | None, typer.Argument(help="A register directory; default: the shipped one.")
    ] = None,
) -> None:
    """Check a register: prints file:line: problem for each mistake; exit 1 if any."""
    target = directory or default_register_dir()
    problems = check_register(target)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {target}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"ok {load_register(target).version_hash}")


@policy_app.command("activate")
def policy_activate(
    directory: Annotated[Path, typer.Argument(help="The register directory to put in force.")],
) -> None:
    """Check, store and activate a register; prints the new version hash."""
    with _session() as session:
        try:
            version = activate(session, directory, _audit_trail())
        except PolicyRefused as refused:
            for error in refused.errors:
                typer.echo(f"{error.field}: {error.message}", err=True)
            typer.echo(refused.detail, err=True)
            raise typer.Exit(code=1) from None
        version_hash = version.version_hash
    typer.echo(version_hash)


@policy_app.command("copy")
def policy_copy(
    directory: Annotated[
        Path, typer.Argument(help="A new directory to write the policy set in force into.")
    ],
) -> None:
    """Write the policy set in force into DIRECTORY, whole, to edit and activate again.

    The register files go into DIRECTORY/register, the intake document it names into
    DIRECTORY/documents, as they were activated; unedited, the copy has the same version
    hash. Prints the register directory to pass to `exchange policy activate`.
    """
    if directory.exists() and any(directory.iterdir()):
        typer.echo(f"{directory} is not empty: give a new directory", err=True)
        raise typer.Exit(code=1)
    with _session() as session:
        version_hash, files = active_files(session)
    register = write_set(directory, files)
    typer.echo(f"{version_hash} written to {register}", err=True)
    typer.echo(
        f"edit the files there, then: exchange policy check {register} && "
        f"exchange policy activate {register}",
        err=True,
    )
    typer.echo(str(register))


@policy_app.command("show")
def policy_show(
    output_format: Annotated[str, typer.Option("--format", help="markdown or html.")] = "markdown",
) -> None:
    """Print the register in force as readable Markdown or HTML."""
    if output_format not in ("markdown", "html"):
        typer.echo("--format is markdown or html", err=True)
        raise typer.Exit(code=2)
    settings = Settings()
    with _session() as session:
        register = PolicyStore(settings.data_dir / "policy-cache").active(session).register
    typer.echo(render_html(register) if output_format == "html" else render_markdown(register))


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Print the latest signed checkpoint (signing a new one if the log has grown)."""
    trail = _audit_trail()
    with _session() as session:
        note = trail.checkpoint(session, clock.now()).note
    sys.stdout.write(note)


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        list[Path],
        typer.Argument(help="Checkpoints kept outside the broker (an auditor's, a backup's)."),
    ],
) -> None:
    """Verify the database's audit log from its leaves against checkpoints kept earlier.

    After a point-in-time recovery or a failover, before serving again: the log must extend
    every checkpoint a verifier already holds. Exit 1 if it does not: the database was
    taken back to before that checkpoint, and entries (and what they record) are gone.
    """
    from exchange.ops import backup as backups

    missing = [str(path) for path in checkpoint if not path.is_file()]
    if missing:
        typer.echo(f"no checkpoint at {', '.join(missing)}", err=True)
        raise typer.Exit(code=2)
    reports = backups.verify_restored(
        Settings().resolved_database_url, _audit_trail(), [p.read_text() for p in checkpoint]
    )
    _emit_verified(checkpoint, reports, {})


@audit_app.command("verifier-key")
def audit_verifier_key() -> None:
    """Print the verifier key an auditor needs: <name>+<key id>+<public key>."""
    typer.echo(_audit_trail().verifier_key())


@audit_app.command("export")
def audit_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; default stdout.")
    ] = None,
) -> None:
    """Write the whole log as JSON Lines, ending with a signed checkpoint.

    Verify it offline with: python -m audit verify EXPORT --public-key KEY
    """
    trail = _audit_trail()
    with _session() as session:
        final = trail.checkpoint(session, clock.now())
        _record(session, "audit.export", {"tree_size": str(final.tree_size)})
    settings = Settings()
    engine = make_engine(settings.resolved_database_url, pool=False)
    handle = output.open("wb") if output else sys.stdout.buffer
    show = output is not None and sys.stderr.isatty()
    try:
        with make_session_factory(engine)() as reading:
            for count, line in enumerate(trail.export_lines(reading, final), start=1):
                handle.write(line)
                if show and count % 10_000 == 0:
                    sys.stderr.write(f"\r{count:,} / {final.tree_size:,} entries")
        if show:
            sys.stderr.write(f"\r{final.tree_size:,} / {final.tree_size:,} entries\n")
    finally:
        if output:
            handle.close()
        engine.dispose()


@report_app.command("ddas")
def report_ddas(
    municipality: Annotated[str, typer.Option(help="Gemeentecode, e.g. 0599.")],
    start: Annotated[dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day.")],
    end: Annotated[
        dt.datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, included.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (mode 600); default stdout."),
    ] = None,
    version: Annotated[
        DdasVersion | None,
        typer.Option(help="Uitwisselmodel version; default: the municipality's setting (1.2)."),
    ] = None,
) -> None:
    """Write the DDAS uitwisselmodel delivery to CBS for a municipality and period."""
    settings = Settings()
    keyring = Keyring.load(FileKeySource(settings.resolved_keys_dir))
    with _session() as session:
        organisation = municipality_by_code(session, municipality)
        if organisation is None:
            typer.echo(f"--municipality: no municipality {municipality} is registered", err=True)
            raise typer.Exit(code=2)
        checked = _run(lambda: period(start.date(), end.date()))
        register = PolicyStore(settings.data_dir / "policy-cache").active(session).register
        document = _run(
            lambda: build_ddas(
                session,
                keyring,
                register,
                organisation,
                checked.start,
                checked.end,
                clock.now(),
                settings.ddas_supplier_code,
                audit=audit_trail(settings, keyring),
                actor_client="exchange-cli",
                version=version or DdasVersion(settings.ddas_version_for(municipality)),
            )
        )
    # Written only after the transaction with its audit entries has committed. The file
    # holds BSNs and addresses, so only its owner may read it.
    if output is not None:
        _write_private(output, document)
    else:
        _emit(document)


@user_app.command("add")
def user_add(
    organisation: Annotated[str, typer.Option(help="The organisation's id.")],
    username: Annotated[str, typer.Option(help="Login name (or the e-mail the IdP sends).")],
    name: Annotated[str, typer.Option(help="Name shown on the pages.")] = "",
    oidc: Annotated[
        bool, typer.Option("--oidc", help="Logs in with the identity provider; no password.")
    ] = False,
) -> None:
    """Add a person. A local account's password is read from standard input (not an
    argument, so it stays out of shell history) or generated and printed once."""
    password: str | None = None
    if not oidc:
        given = sys.stdin.readline().strip() if not sys.stdin.isatty() else ""
        password = given or secrets.token_urlsafe(12)
    organisation_id = _uuid(organisation, "--organisation")

    def add() -> dict[str, Any]:
        with _session() as session:
            user = add_user(
                session,
                organisation_id=organisation_id,
                username=username,
                display_name=name or username,
                password=password,
            )
            _record(session, "user.add", {"user": str(user.id), "organisation": organisation})
            return {"id": str(user.id), "username": user.username}

    created = _run(add)
    if password is not None and not oidc:
        created["password"] = password
    _emit(created)


@cases_app.command("escalate")
def cases_escalate() -> None:
    """Record an escalation for every running case whose deadline passed (once each).

    ``exchange serve`` does this every few minutes; run it from cron when the broker runs
    without a server, e.g. in batch-only set-ups.
    """
    from exchange.cases.service import escalate_overdue

    trail = _audit_trail()
    with _session() as session:
        escalated = escalate_overdue(session, trail, clock.today(), clock.now())
    _emit({"escalated": escalated})


@app.command()
def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would go; change nothing.")
    ] = False,
) -> None:
    """Remove what the register's retention periods let go: destroy the data keys of expired
    households, delete their rows and expired consents, one audit entry per person.

    ``exchange serve`` does this every EXCHANGE_PURGE_INTERVAL_SECONDS.
    """
    from exchange.retention.purge import purge as run_purge

    trail = _audit_trail()
    with _session() as session:
        register = PolicyStore(Settings().data_dir / "policy-cache").active(session).register
        report = run_purge(session, register, trail, clock.today(), clock.now(), dry_run=dry_run)
    _emit(report.as_dict())


@keys_app.command("rotate")
def keys_rotate(
    family: Annotated[
        str,
        typer.Argument(
            help="kek, token, audit or pseudonym", metavar="{kek,token,audit,pseudonym}"
        ),
    ],
) -> None:
    """Make a new key active, keeping what the old one protects readable and verifiable.

    kek: re-wraps every data key with the new key-encryption key, in short transactions, while
    the broker serves. token: the old signing key stays in the JWKS until its tokens expire.
    audit: the new checkpoint key is announced in a checkpoint the old key signs. pseudonym:
    every stored pseudonym is rehashed to the new key, no identity is opened. Restart (or
    roll) the servers afterwards so that they sign and hash with the new keys.
    """
    from exchange.ops import rotation

    if family not in rotation.FAMILY_OF:
        typer.echo(f"unknown key family {family!r}: kek, token, audit or pseudonym", err=True)
        raise typer.Exit(code=2)
    settings = Settings()
    source = key_source(settings.resolved_keys_dir, settings.key_source)
    old_trail = _audit_trail()
    now = clock.now()
    rotated = rotation.add_key(source, family, now, settings.token_lifetime_seconds)
    keyring = Keyring.load(source)
    new_trail = audit_trail(settings, keyring)
    extra: dict[str, str] = {}
    if family == "audit":
        with _session() as session:
            rotation.record_rotation(session, old_trail, rotated, now)
            announced = old_trail.announce_key(session, new_trail.signer, rotated.new_key_id, now)
        extra["verifier_key"] = new_trail.verifier_key()
        extra["announced_at_tree_size"] = str(announced.tree_size)
    else:
        step = {"kek": rotation.rewrap, "pseudonym": rotation.relink}.get(family)
        total = 0
        while step is not None:
            with _session() as session:
                count = step(session, keyring)
            total += count
            if not count:
                break
        with _session() as session:
            rotation.record_rotation(
                session, new_trail, rotated, now, **({"rows": str(total)} if step else {})
            )
        if step is not None:
            extra["rows"] = str(total)
    _emit(
        {
            "family": rotated.family,
            "old_key_id": rotated.old_key_id,
            "new_key_id": rotated.new_key_id,
            **extra,
        }
    )


@webhooks_app.command("deliver")
def webhooks_deliver(
    limit: Annotated[int, typer.Option(min=1, help="Send at most this many.")] = 500,
) -> None:
    """Send the webhook deliveries that are due, once; prints what happened."""
    from exchange.broker import Broker
    from exchange.webhooks.dispatcher import deliver_due

    broker = Broker.start(Settings())
    try:
        report = deliver_due(broker, limit=limit)
    finally:
        broker.engine.dispose()
    _emit({"delivered": report.delivered, "retrying": report.retrying, "failed": report.failed})


@app.command()
def backup(
    output: Annotated[Path, typer.Option("--output", "-o", help="The dump file to write.")],
) -> None:
    """Sign an audit checkpoint, then pg_dump the database (PostgreSQL).

    Writes OUTPUT (pg_dump's custom format, mode 600) and OUTPUT.checkpoint beside it: keep
    the checkpoint, since a restore is checked against it. Back the keys up separately.
    """
    from exchange.ops import backup as backups

    settings = Settings()
    try:
        made = backups.backup(settings.resolved_database_url, _audit_trail(), output)
    except backups.BackupError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(code=1) from None
    _emit({"dump": str(made.dump), "checkpoint": str(made.checkpoint), "tree_size": made.tree_size})


@app.command()
def restore(
    dump: Annotated[Path, typer.Argument(help="A dump written by 'exchange backup'.")],
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(help="A newer checkpoint an auditor kept; the restored log must extend it."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the database without asking.")
    ] = False,
) -> None:
    """Replace the database by a dump (stop every replica first), then verify its audit log.

    The restored log must verify from its leaves and extend DUMP.checkpoint and every
    --checkpoint given; exit 1 if it does not (for example a dump older than a checkpoint).
    """
    from exchange.ops import backup as backups

    settings = Settings()
    kept_paths = [dump.with_name(dump.name + backups.CHECKPOINT_SUFFIX), *(checkpoint or [])]
    missing = [str(path) for path in kept_paths if not path.is_file()]
    if missing:
        typer.echo(f"no checkpoint at {', '.join(missing)}", err=True)
        raise typer.Exit(code=2)
    if not yes:
        typer.confirm(f"Replace {_redacted(settings.resolved_database_url)}?", abort=True)
    trail = _audit_trail()
    try:
        backups.restore(settings.resolved_database_url, dump)
        reports = backups.verify_restored(
            settings.resolved_database_url, trail, [p.read_text() for p in kept_paths]
        )
    except backups.BackupError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(code=1) from None
    _emit_verified(kept_paths, reports, {"restored": str(dump)})


def _emit_verified(
    kept_paths: list[Path], reports: list[VerificationReport], document: dict[str, Any]
) -> None:
    """Print each kept checkpoint's verification; exit 1 if the log fails any."""
    results = [
        {
            "checkpoint": str(path),
            "ok": report.ok,
            "entries": report.size,
            "message": report.message,
        }
        for path, report in zip(kept_paths, reports, strict=True)
    ]
    _emit({**document, "verified": results})
    if not all(report.ok for report in reports):
        raise typer.Exit(code=1)


@app.command()
def demo(
    as_json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON only (for scripts).")
    ] = False,
    with_signals: Annotated[
        bool,
        typer.Option(
            "--signals/--no-signals", help="Send test signals the first time (benchmarks: no)."
        ),
    ] = True,
) -> None:
    """Seed the demo world (Rotterdam, 0599) and print its client credentials."""
    settings = Settings()
    first_time = False
    with _session() as session:
        organisations = _reuse_demo(session, settings)
        if organisations is None:
            first_time = True
            organisations = seed_demo(session)
            _record(session, "demo.seed", {"organisations": str(len(organisations))})
        people = seed_demo_people(session, organisations, _known_people(settings))
    if first_time and with_signals:
        _send_demo_signals(settings, organisations)
    document = as_json(organisations) | {"people": [asdict(p) for p in people]}
    _write_private(settings.data_dir / DEMO_FILE, document)
    example = example_signal(clock.today())
    (settings.data_dir / EXAMPLE_FILE).write_text(json.dumps(example, indent=2) + "\n")
    _write_demo_team_contacts(settings.data_dir)
    if as_json_output:
        _emit(document)
        return
    _print_welcome(settings, organisations, people)


def _write_demo_team_contacts(data_dir: Path) -> None:
    """How a person reaches the demo teams, for the outreach letters and texts (see
    ``exchange.outreach``): a municipality keeps its own file there. Kept if present."""
    path = data_dir / "outreach" / "0599" / "teams.yaml"
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Phone and e-mail of each team as its letters and texts give them, by the name\n"
        "# the organisation is registered under (or its id).\n"
        "Gemeente Rotterdam: {phone: 14 010, email: vroegsignalering@rotterdam.example}\n"
        "Wijkteam Rotterdam Noord:\n"
        "  {phone: 010 123 45 67, email: wijkteam.noord@rotterdam.example}\n",
        encoding="utf-8",
    )


def _send_demo_signals(settings: Settings, organisations: list[DemoOrganisation]) -> None:
    """Test signals through the real intake, so the work queue has cases on day one."""
    from exchange.auth.scopes import default_scopes
    from exchange.auth.tokens import Principal
    from exchange.broker import Broker
    from exchange.intake.coalescer import receive
    from exchange.logs import configure_logging

    # Quiet: the demo prints its credentials (or JSON for scripts) and nothing else.
    configure_logging(settings.log_format, "WARNING")
    broker = Broker.start(settings)
    try:
        by_kind = {o.kind: o for o in organisations}
        for kind, signal in demo_signals(clock.today()):
            provider = by_kind[kind]
            principal = Principal(
                client_id=provider.client_id,
                organisation_id=uuid.UUID(provider.id),
                organisation_kind=OrganisationKind(kind),
                scopes=frozenset(default_scopes(OrganisationKind(kind))),
            )
            receive(broker, principal, [(0, signal)])
    finally:
        broker.engine.dispose()


def example_signal(today: dt.date) -> dict[str, Any]:
    """A rent signal that passes every intake rule today (test person, test BSN)."""
    return {
        "external_ref": f"WS-{today.year}-{uuid.uuid4().hex[:6].upper()}",
        "kind": "rent",
        "amount_cents": 125000,
        "arrears_since": (today - dt.timedelta(days=61)).isoformat(),
        "crisis": False,
        "warm_handover": False,
        "person": {
            "bsn": "999990019",
            "initials": "A.",
            "surname_prefix": "van",
            "surname": "Dijk",
            "birth_date": "1985-06-15",
        },
        "address": {
            "postcode": "3011AB",
            "house_number": "10",
            "house_number_addition": "A",
            "street": "Voorbeeldstraat",
            "city": "Rotterdam",
        },
        "contact": {"phone": "+31612345678", "email": "a.vandijk@example.org"},
        "preconditions": {
            "contact_attempted_on": (today - dt.timedelta(days=20)).isoformat(),
            "debt_help_offered_on": (today - dt.timedelta(days=20)).isoformat(),
            "reminder_sent_on": (today - dt.timedelta(days=25)).isoformat(),
            "reminder_offered_transfer": True,
            "subject_refused": False,
        },
    }


def _print_welcome(
    settings: Settings, organisations: list[DemoOrganisation], people: list[DemoPerson]
) -> None:
    corporation = next(o for o in organisations if o.kind == "housing_corporation")
    example = settings.data_dir / EXAMPLE_FILE
    lines = ["", "Demo organisations and their API clients:", ""]
    for o in organisations:
        lines.append(f"  {o.kind:<20} {o.name}")
        lines.append(f"  {'':<20} client_id={o.client_id} client_secret={o.client_secret}")
    lines += [
        "",
        f"(also in {settings.data_dir / DEMO_FILE})",
        "",
        "Send a signal as the housing corporation, once the broker is up:",
        "",
        f"  TOKEN=$(curl -s -u '{corporation.client_id}:{corporation.client_secret}' \\",
        "      -d grant_type=client_credentials http://127.0.0.1:8000/oauth/token \\",
        "      | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        "  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
        f"      -d @{example} http://127.0.0.1:8000/v1/signals",
        "",
        "API documentation: http://127.0.0.1:8000/docs",
        "",
        "Web pages for people: http://127.0.0.1:8000/ui/ (log in as one of these):",
        "",
        *(f"  {p.kind:<20} {p.username} / {p.password}" for p in people),
        "",
    ]
    typer.echo("\n".join(lines))


def _known_people(settings: Settings) -> dict[str, str]:
    path = settings.data_dir / DEMO_FILE
    if not path.exists():
        return {}
    return {p["username"]: p["password"] for p in json.loads(path.read_text()).get("people", [])}


def _reuse_demo(session: Session, settings: Settings) -> list[DemoOrganisation] | None:
    """The demo clients printed before, if they still exist: ``make run`` twice, same keys."""
    path = settings.data_dir / DEMO_FILE
    if not path.exists():
        return None
    organisations = [DemoOrganisation(**o) for o in json.loads(path.read_text())["organisations"]]
    known = registered_clients(session, (o.client_id for o in organisations))
    if all(o.client_id in known for o in organisations):
        return organisations
    return None


def _audit_trail() -> AuditTrail:
    settings = Settings()
    return audit_trail(
        settings, Keyring.load(key_source(settings.resolved_keys_dir, settings.key_source))
    )


def _link_stored_identifiers(settings: Settings) -> int:
    """People signalled before identifiers were linked get their links (one transaction per
    batch, so a large database is not held in one)."""
    keyring = Keyring.load(key_source(settings.resolved_keys_dir, settings.key_source))
    trail, done = _audit_trail(), 0
    while True:
        with _session() as session:
            batch = identities.link_stored(session, keyring, trail, clock.now())
        if not batch:
            return done
        done += batch


def _record(session: Session, action: str, resources: dict[str, str]) -> None:
    """Administrative actions from the command line go into the audit log as well."""
    _audit_trail().append(
        session,
        [
            AuditRecord(
                action=action,
                decision="recorded",
                actor_org=None,
                actor_client="exchange-cli",
                resources=resources,
            )
        ],
        clock.now(),
    )


@contextmanager
def _session() -> Iterator[Session]:
    settings = Settings()
    engine = make_engine(settings.resolved_database_url, pool=False)
    try:
        yield from unit_of_work(make_session_factory(engine))
    finally:
        engine.dispose()


def _run(action: Any) -> Any:
    try:
        return action()
    except ExchangeError as error:
        typer.echo(json.dumps(error.as_problem(), indent=2), err=True)
        raise typer.Exit(code=2) from None


def _uuid(value: str, option: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        typer.echo(f"{option} must be an organisation id (a UUID), got {value!r}", err=True)
        raise typer.Exit(code=2) from None


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def _write_private(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle, indent=2)


def _redacted(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
