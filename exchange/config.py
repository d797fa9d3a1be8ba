"""Configuration from the environment (prefix ``EXCHANGE_``).

Secrets never have defaults here: keys live in the key directory that ``exchange init``
creates under the data dir (the embedded default), or are mounted there in production.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXCHANGE_", extra="ignore")

    data_dir: Path = Field(default=Path("./var"), description="Database file, keys, demo data.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file under the data dir.",
    )
    keys_dir: Path | None = Field(
        default=None, description="Key files; default is <data_dir>/keys."
    )
    issuer: str = Field(
        default="http://127.0.0.1:8000",
        description="OAuth issuer: the public base URL of this broker, as clients reach it.",
    )
    audit_origin: str | None = Field(
        default=None,
        description="The audit log's origin line in checkpoints; default <issuer host>/audit.",
    )
    audit_checkpoint_every: int = Field(
        default=1024, ge=1, description="Sign a checkpoint each time the log grows this much."
    )
    # At most an hour, the longest access-token lifetime the NL GOV Assurance profile's
    # token-lifetime table (after iGov) recommends.
    token_lifetime_seconds: int = Field(default=300, ge=30, le=3600)
    mtls_client_certificate_header: str | None = Field(
        default=None,
        description=(
            "Header in which the TLS-terminating proxy passes the client certificate it "
            "verified, URL-encoded PEM (nginx: $ssl_client_escaped_cert). Set it only behind "
            "a proxy that overwrites it; unset, no token is bound to a certificate (RFC 8705)."
        ),
    )
    log_format: Literal["json", "console"] = "console"
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=64 * 1024, description="Limit for one signal.")
    max_batch_body_bytes: int = Field(default=40 * 1024 * 1024, description="Limit for a batch.")
    max_batch_items: int = Field(default=10_000, ge=1, le=10_000)
    webhook_allow_http: bool = Field(
        default=False,
        description="Accept plain http webhook URLs (development and tests only).",
    )
    webhook_interval_seconds: float = Field(
        default=15,
        ge=0,
        description="How often 'exchange serve' sends due webhook deliveries; 0 turns it off.",
    )
    webhook_timeout_seconds: float = Field(
        default=5, gt=0, le=30, description="Connect and read timeout for one webhook request."
    )
    outbound_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names (or addresses) the broker may connect to although they are "
        "internal: webhook receivers inside a closed network. Comma-separated or a JSON "
        "list; exact names, no patterns. Empty by default: only public addresses are reached "
        "(exchange/outbound.py).",
    )
    purge_interval_seconds: float = Field(
        default=3600,
        ge=0,
        description="How often 'exchange serve' removes data whose retention ended; 0 = off.",
    )
    key_source: Literal["file", "env"] = Field(
        default="file",
        description="Where keys come from: 'file' (the keys dir, or a mounted secret there) "
        "or 'env' (EXCHANGE_KEY_<FAMILY> variables holding the key documents).",
    )
    escalation_interval_seconds: float = Field(
        default=300,
        ge=0,
        description="How often 'exchange serve' records escalations of passed deadlines; 0 = off.",
    )
    data_location: str = Field(
        default="EU/NL",
        pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?(/[A-Z]{2}(-[A-Z0-9]{1,3})?)*$",
        description="Where the broker stores its data and whose law governs it, wide to "
        "narrow, '/' between (ISO 3166 codes, 'EU'): consent records give it as their storage "
        "location and jurisdiction.",
    )
    ddas_supplier_code: str = Field(
        default="SIGNAL-EXCHANGE",
        description="codeGegevensleverancier in DDAS deliveries: who supplies the data to CBS.",
    )
    ddas_version: Literal["0.9", "1.2"] = Field(
        default="1.2", description="The DDAS uitwisselmodel version a delivery is made in."
    )
    ddas_versions: dict[str, Literal["0.9", "1.2"]] = Field(
        default_factory=dict,
        description="Per gemeentecode, where a municipality still delivers in another version: "
        'EXCHANGE_DDAS_VERSIONS=\'{"0599": "0.9"}\'.',
    )

    # Outreach from templates (exchange/outreach): e-mail by SMTP, text messages by an HTTP
    # gateway. Both off when unset; the case page then says so. Their hosts are checked
    # like a webhook's (exchange/outbound.py): an internal relay goes in outbound_allowed_hosts.
    smtp_host: str | None = Field(default=None, description="SMTP server for outreach e-mail.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="Its port.")
    smtp_from: str | None = Field(
        default=None, description="The From address of outreach e-mail (e.g. wijkteam@gemeente.nl)."
    )
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if the server asks.")
    smtp_password: SecretStr | None = Field(default=None, description="Its password.")
    smtp_timeout_seconds: float = Field(default=10, gt=0, le=60)
    sms_gateway_url: str | None = Field(
        default=None,
        description="HTTP(S) URL an outreach text message is POSTed to as JSON "
        '({"to", "text", "sender", "reference"}).',
    )
    sms_gateway_token: SecretStr | None = Field(
        default=None, description="Bearer token for the SMS gateway."
    )
    sms_sender: str | None = Field(
        default=None, max_length=11, description="The sender name the gateway shows (max 11)."
    )

    oidc_issuer: str | None = Field(
        default=None,
        description="OpenID Connect issuer for people logging in to /ui (off when unset).",
    )
    oidc_client_id: str | None = Field(default=None, description="This broker's OIDC client id.")
    oidc_client_secret: str | None = Field(
        default=None, description="Its client secret (client_secret_basic)."
    )
    oidc_client_key_file: Path | None = Field(
        default=None,
        description="A private key (PEM, or a JWK as JSON) the broker signs its token requests "
        "with (private_key_jwt, as OIDC NLGov asks); its public half is served at "
        "/ui/login/oidc/jwks for the provider. Takes the place of the secret.",
    )
    oidc_minimum_acr: str | None = Field(
        default=None,
        description="The lowest level of assurance a login may have (the ID token's acr), e.g. "
        "http://eidas.europa.eu/LoA/substantial; higher levels of the same scheme count too.",
    )
    oidc_username_claim: str = Field(
        default="email",
        description="The ID-token claim that names the person's account the first time.",
    )

    @field_validator("outbound_allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    @field_validator("outbound_allowed_hosts")
    @classmethod
    def _canonical_hosts(cls, hosts: list[str]) -> list[str]:
        from exchange.outbound import allowed_host  # it imports httpx: only when set

        return [allowed_host(host) for host in hosts]

    @property
    def oidc_enabled(self) -> bool:
        credentials = self.oidc_client_secret or self.oidc_client_key_file
        return bool(self.oidc_issuer and self.oidc_client_id and credentials)

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'exchange.sqlite3').resolve()}"

    @cached_property
    def resolved_audit_origin(self) -> str:
        return self.audit_origin or f"{urlsplit(self.issuer).netloc or 'localhost'}/audit"

    @cached_property
    def resolved_keys_dir(self) -> Path:
        return (self.keys_dir or self.data_dir / "keys").resolve()

    def ddas_version_for(self, gemeentecode: str | None) -> str:
        """The DDAS version a municipality delivers in: its own setting, else the default."""
        return self.ddas_versions.get(gemeentecode or "", self.ddas_version)
