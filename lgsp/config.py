"""Settings of a bus: the gateway's limits and the clients with their grants.

Loaded from a TOML file (``--config``); without one, the demo province of
PROTOCOL.md. A config with ``production = true`` refuses to start while any
client still has a demo secret. ``[[http_providers]]`` name agency HTTP
endpoints that serve service versions (docs/http-providers.md).
"""

from __future__ import annotations

import math
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, Self

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from limits import parse as parse_limit
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

ClientId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
# "<count>/<second|minute|hour>", the notation of the `limits` library.
RateLimit = Annotated[
    str, StringConstraints(pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour)s?$")
]


# An argon2 hash in its PHC string form, as argon2-cffi writes it.
SecretHash = Annotated[str, StringConstraints(pattern=r"^\$argon2(id|i|d)\$\S+$")]
# SHA-256 of a certificate's DER bytes, hex, with or without colons (as
# `openssl x509 -fingerprint -sha256` prints it); kept lower case, no colons.
Thumbprint = Annotated[
    str,
    BeforeValidator(lambda v: v.replace(":", "").lower() if isinstance(v, str) else v),
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
]


# A province of the network as NDXP names it in addresses: lower case, no
# diacritics (``dongthap``, ``gialai``).
ProvinceKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,31}$")]

DEMO_PROVINCES: dict[str, str] = {
    "dongthap": "Đồng Tháp",
    "gialai": "Gia Lai",
    "lamdong": "Lâm Đồng",
    "phutho": "Phú Thọ",
}
"""The provinces of the demo network (post-2025 names): each one LGSP."""


STORE_URL_ENV = "LGSP_STORE_URL"
"""The environment variable of ``Settings.store_url``."""
STORE_URL_SCHEMES = ("postgresql://", "postgres://")


def granted(grants: tuple[str, ...], name: str) -> bool:
    """True when ``name`` (a service or topic) matches one of the grants:
    an exact name or a prefix ending in ``.*``. (``audit_full_services``
    names services the same way.)

    A service of another province is named ``<service>@<province>``
    (``land.parcel.search@gialai``); it matches only grants that name a
    province, that one or ``*`` (``land.*@*``), and a local name never
    matches those."""
    service, _, province = name.partition("@")
    for grant in grants:
        pattern, _, where = grant.partition("@")
        if bool(where) != bool(province) or (where and where not in ("*", province)):
            continue
        if pattern == service or (pattern.endswith(".*") and service.startswith(pattern[:-1])):
            return True
    return False


class ClientConfig(BaseModel):
    """An agency system allowed to call the bus.

    It authenticates with a secret (``secret`` in plain, hashed when loaded
    into the client store, or ``secret_hash``, an argon2 hash), or with a TLS
    client certificate (``certificate_sha256``), or either.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    id: ClientId
    secret: Annotated[str, StringConstraints(min_length=8)] | None = None
    secret_hash: SecretHash | None = None
    certificate_sha256: Thumbprint | None = Field(
        default=None,
        description="SHA-256 thumbprint of the client's TLS certificate: it may then get "
        "tokens with the certificate instead of a secret (RFC 8705 tls_client_auth).",
    )
    grants: tuple[str, ...] = Field(
        description="Services and topics this client may use: exact names or prefixes "
        "ending in '.*' (e.g. 'population.*')."
    )
    rate: float | None = Field(
        default=None, gt=0, description="Sustained requests per second; none means unlimited."
    )
    burst: int | None = Field(
        default=None, ge=1, description="Requests allowed at once above the rate (default: rate)."
    )
    rate_limit: RateLimit | None = Field(
        default=None,
        description="Quota in the older notation, e.g. '100/second': the same as rate 100 "
        "and burst 100.",
    )
    description: str = ""

    @model_validator(mode="after")
    def _credentials_and_quota(self) -> Self:
        if self.secret is not None and self.secret_hash is not None:
            raise ValueError(f"{self.id}: give `secret` or `secret_hash`, not both")
        if self.secret is None and self.secret_hash is None and self.certificate_sha256 is None:
            raise ValueError(f"{self.id}: needs a secret, a secret_hash or a certificate_sha256")
        if self.rate_limit is not None and (self.rate is not None or self.burst is not None):
            raise ValueError(f"{self.id}: give `rate`/`burst` or `rate_limit`, not both")
        if self.burst is not None and self.rate is None:
            raise ValueError(f"{self.id}: `burst` needs a `rate`")
        return self

    @property
    def quota(self) -> tuple[float, int] | None:
        """(requests per second, burst), or None when unlimited."""
        if self.rate_limit is not None:
            item = parse_limit(self.rate_limit)
            return item.amount / item.get_expiry(), item.amount
        if self.rate is None:
            return None
        return self.rate, self.burst or max(1, math.ceil(self.rate))


ServiceName = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$", max_length=128)
]
# An HTTP field name (RFC 9110 token).
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")]
# What the bus itself sends to an HTTP provider: auth cannot override it.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "idempotency-key", "x-request-id"}
)


# A rejected value is not echoed in the error: it may be a secret.
_SECRET_BEARING = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _header_safe(secret: SecretStr) -> SecretStr:
    if any(c in secret.get_secret_value() for c in "\r\n\0"):
        raise ValueError("a header value cannot hold line breaks or NUL")
    return secret


class BearerAuth(BaseModel):
    """``Authorization: Bearer <token>``."""

    model_config = _SECRET_BEARING

    type: Literal["bearer"]
    token: SecretStr = Field(min_length=1)

    _check_token = field_validator("token")(_header_safe)


class BasicAuth(BaseModel):
    """HTTP Basic (RFC 7617)."""

    model_config = _SECRET_BEARING

    type: Literal["basic"]
    username: Annotated[str, StringConstraints(min_length=1, pattern=r"^[^:]*$")]
    password: SecretStr


class HeaderAuth(BaseModel):
    """An API key in a header of the endpoint's choosing (e.g. ``X-Api-Key``)."""

    model_config = _SECRET_BEARING

    type: Literal["header"]
    name: HeaderName
    value: SecretStr = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name.lower() in RESERVED_HEADERS or name.lower().startswith("x-lgsp-"):
            raise ValueError(f"{name} is a header the bus sets itself")
        return name

    _check_value = field_validator("value")(_header_safe)


HttpAuth = Annotated[BearerAuth | BasicAuth | HeaderAuth, Field(discriminator="type")]


class HttpProviderConfig(BaseModel):
    """An agency HTTP endpoint serving one service version: the bus POSTs
    each request to ``url`` and checks the answer against the contract."""

    model_config = _SECRET_BEARING

    service: ServiceName
    version: int = Field(ge=1)
    url: HttpUrl
    timeout_ms: int = Field(
        default=10_000,
        ge=1,
        description="Longest wait for the endpoint; the call's deadline caps it anyway.",
    )
    auth: HttpAuth | None = None

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: HttpUrl) -> HttpUrl:
        # Credentials in a URL end up in logs and error messages.
        if url.username or url.password:
            raise ValueError("put credentials in `auth`, not in the URL")
        if url.fragment:
            raise ValueError("the URL of an HTTP provider cannot have a fragment")
        return url


def demo_clients(province: str = "dongthap") -> tuple[ClientConfig, ...]:
    """The demo clients of one province's LGSP (PROTOCOL.md's table, with the
    province's prefix), and NDXP's client there."""
    name = DEMO_PROVINCES.get(province, province)
    return (
        ClientConfig(
            id=f"{province}.onestop",
            secret="demo-onestop-secret",
            grants=("population.*", "land.*", "onestop.*", "dvcqg.*", "land.*@*"),
            description=f"{name} one-stop-shop (một cửa điện tử)",
        ),
        ClientConfig(
            id=f"{province}.land",
            secret="demo-land-secret",
            grants=("population.citizen.lookup", "population.citizen.verify"),
            description=f"{name} land registration office",
        ),
        ClientConfig(
            id=f"{province}.viewer",
            secret="demo-viewer-secret",
            grants=("land.parcel.lookup",),
            description="A read-only land viewer",
        ),
        ClientConfig(
            id=f"{province}.opendata",
            secret="demo-opendata-secret",
            grants=(
                "warehouse.dossiers.monthly",
                "warehouse.parcels.land-use",
                "warehouse.population.age-groups",
                "warehouse.exchanges.daily",
                "warehouse.feedback.satisfaction",
            ),
            description=f"{name} open data portal (cổng dữ liệu mở): reads the warehouse's "
            "aggregate datasets to publish them",
        ),
        ClientConfig(
            id=f"{province}.analyst",
            secret="demo-analyst-secret",
            grants=("warehouse.*", "lgsp.exchange.statistics"),
            description=f"{name} shared data warehouse's analysts (kho dữ liệu dùng chung): "
            "the datasets, read-only SQL, the bus's exchange statistics",
        ),
        ClientConfig(
            id=f"{province}.portal",
            secret="demo-portal-secret",
            grants=("ndop.access.history",),
            # One try in the citizen's hand, a few a second for the portal:
            # enough for people, not for walking through personal ids.
            rate=2,
            burst=10,
            description=f"{name} public service portal (cổng dịch vụ công cấp tỉnh): shows "
            "citizens who used their data, with their birth date as proof",
        ),
        ClientConfig(
            id="ndxp.national",
            secret="demo-ndxp-secret",
            grants=("land.parcel.lookup", "land.parcel.search", "land.certificate.lookup"),
            description="NDXP forwarding requests of ministries and other provinces",
        ),
    )


DEMO_CLIENTS: tuple[ClientConfig, ...] = demo_clients()
PARTNER_SERVICES: tuple[str, ...] = (
    "land.parcel.lookup",
    "land.parcel.search",
    "land.certificate.lookup",
)
"""What each demo province grants the others: its land database's lookups."""


class PartnerConfig(BaseModel):
    """Another province of the network, and what this LGSP serves it: calls
    that NDXP forwards from that province (NDXP names the origin from the
    calling LGSP's credentials) are authorized by these grants."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    province: ProvinceKey
    grants: tuple[str, ...] = Field(
        description="Services this province may call here: exact names or 'prefix.*'."
    )


def demo_partners(province: str = "dongthap") -> tuple[PartnerConfig, ...]:
    """Every other demo province, granted the land lookups."""
    return tuple(
        PartnerConfig(province=other, grants=PARTNER_SERVICES)
        for other in DEMO_PROVINCES
        if other != province
    )


class NetworkConfig(BaseModel):
    """How this LGSP reaches the national exchange platform (NDXP) to call
    other provinces and to report mandatory sharing to NDOP."""

    model_config = _SECRET_BEARING

    hub_url: HttpUrl = Field(
        description="NDXP's forwarding base: a call to province P's service S is "
        "POSTed to '<hub_url>/P/S'."
    )
    token_url: HttpUrl = Field(description="NDXP's OAuth2 token endpoint.")
    trace_url: HttpUrl | None = Field(
        default=None,
        description="NDOP's endpoint for reports of exchanges of personal data; none: "
        "nothing is reported.",
    )
    client_id: ClientId = Field(description="This LGSP's client id at NDXP.")
    client_secret: SecretStr


class AdminConfig(BaseModel):
    """An operator allowed on the admin API and the dashboard (HTTP Basic)."""

    model_config = _SECRET_BEARING

    id: ClientId
    secret: Annotated[str, StringConstraints(min_length=8)] | None = None
    secret_hash: SecretHash | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> Self:
        if (self.secret is None) == (self.secret_hash is None):
            raise ValueError(f"admin {self.id}: give exactly one of `secret` or `secret_hash`")
        return self


DEMO_ADMINS: tuple[AdminConfig, ...] = (AdminConfig(id="admin", secret="demo-admin-secret"),)
DEMO_SECRETS: frozenset[str] = frozenset(
    s for s in (*(c.secret for c in DEMO_CLIENTS), *(a.secret for a in DEMO_ADMINS)) if s
)


def _hashes_a_demo_secret(secret_hash: str | None) -> bool:
    """True when an argon2 hash is that of a demo secret (checked for
    production configs only: each check costs a hash per demo secret)."""
    if secret_hash is None:
        return False
    hasher = PasswordHasher()  # the hash carries its own parameters
    for demo in DEMO_SECRETS:
        try:
            if hasher.verify(secret_hash, demo):
                return True
        except (VerificationError, InvalidHashError):
            continue
    return False


SOC_ENV: dict[str, str] = {
    "url": "LGSP_SOC_URL",
    "ca_file": "LGSP_SOC_CA",
    "cert_file": "LGSP_SOC_CERT",
    "key_file": "LGSP_SOC_KEY",
    "buffer": "LGSP_SOC_BUFFER",
    "blocklist": "LGSP_SOC_BLOCKLIST",
    "blocklist_refresh_s": "LGSP_SOC_BLOCKLIST_REFRESH_S",
}
"""The environment variables of ``[soc]``'s fields: each wins over the file."""


def soc_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``[soc]`` fields the environment sets (empty values are unset)."""
    return {field: environ[name] for field, name in SOC_ENV.items() if environ.get(name)}


class SocConfig(BaseModel):
    """The feed of security events to the national cyber security monitoring
    centre (its collector, over syslog on TLS) and the blocklist it publishes
    (docs/soc.md). Off unless ``url`` (or ``blocklist``) is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, StringConstraints(pattern=r"^tls://[^/:\s]+:\d{1,5}$")] | None = Field(
        default=None,
        description="The collector, tls://host:port (syslog RFC 5424 over TLS, RFC 5425); "
        "none: no events are sent (env LGSP_SOC_URL).",
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle the collector's certificate is checked against; none: "
        "the system's (env LGSP_SOC_CA).",
    )
    cert_file: Path | None = Field(
        default=None, description="PEM client certificate for the collector (env LGSP_SOC_CERT)."
    )
    key_file: Path | None = Field(
        default=None, description="PEM private key of cert_file (env LGSP_SOC_KEY)."
    )
    server_name: str | None = Field(
        default=None, description="The name on the collector's certificate; default: its host."
    )
    buffer: int = Field(
        default=10_000,
        ge=1,
        description="Events held while the collector cannot take them; past that the oldest "
        "are dropped and counted (env LGSP_SOC_BUFFER).",
    )
    app_name: Annotated[str, StringConstraints(pattern=r"^[!-~]{1,48}$")] = "lgsp"
    input_burst: int = Field(
        default=20,
        ge=1,
        description="Input refusals (400, 413, 415, 422) from one client within input_window_s "
        "that make a bad-input burst.",
    )
    input_window_s: float = Field(default=60.0, gt=0)
    enumeration_ids: int = Field(
        default=50,
        ge=2,
        description="Distinct personal ids one client asks population.* services for within "
        "enumeration_window_s that make an enumeration alert.",
    )
    enumeration_not_found: int = Field(
        default=20,
        ge=1,
        description="Not-found answers of population.* services to one client within "
        "enumeration_window_s that make an enumeration alert.",
    )
    enumeration_window_s: float = Field(default=300.0, gt=0)
    blocklist: str | None = Field(
        default=None,
        description="Where the SOC publishes its blocklist: an http(s) URL (polled with "
        "If-None-Match) or a file path (env LGSP_SOC_BLOCKLIST).",
    )
    blocklist_refresh_s: float = Field(
        default=5.0,
        gt=0,
        description="How often every gateway process reads the blocklist again "
        "(env LGSP_SOC_BLOCKLIST_REFRESH_S).",
    )

    @model_validator(mode="after")
    def _client_pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("soc: cert_file and key_file go together")
        return self

    @classmethod
    def load(cls, path: Path | None, environ: Mapping[str, str]) -> SocConfig:
        """``[soc]`` of a TOML config (if any), the environment winning: for
        commands that need the feed without a whole gateway's settings."""
        data: dict[str, object] = {}
        if path is not None:
            with path.open("rb") as f:
                table = tomllib.load(f).get("soc", {})
            if isinstance(table, dict):
                data.update(table)
        data.update(soc_environment(environ))
        return cls.model_validate(data)


class Settings(BaseModel):
    """Everything a gateway process needs to know (transport aside)."""

    model_config = _SECRET_BEARING

    production: bool = False
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: int = Field(
        default=32,
        ge=2,
        description="Deepest nesting of arrays and objects a request body may have; "
        "deeper bodies are refused with 400 before validation.",
    )
    body_read_timeout_ms: int = Field(
        default=10_000,
        ge=1,
        description="Longest wait for a request body once its headers arrived; a client "
        "that stalls or trickles its upload is cut off with 408.",
    )
    default_timeout_ms: int = Field(default=10_000, ge=1)
    max_timeout_ms: int = Field(default=60_000, ge=1)
    token_ttl_s: int = Field(default=3600, ge=1)
    token_secret: str = Field(
        default_factory=lambda: secrets.token_urlsafe(32),
        min_length=32,
        description="HMAC key signing access tokens. Gateways behind one load balancer "
        "must share it; a random one is made when absent.",
    )
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=1)
    gateways: int = Field(
        default=1,
        ge=1,
        description="How many gateways a load balancer spreads the province's calls over "
        "(env LGSP_GATEWAYS): each counts 1/gateways of every client's quota (and of that, "
        "1/N for each of N workers), so a client gets about its quota whichever gateway it "
        "reaches, not that many times it.",
    )
    clients: tuple[ClientConfig, ...] = DEMO_CLIENTS
    admins: tuple[AdminConfig, ...] = Field(
        default=DEMO_ADMINS,
        description="Operators of the admin API and the dashboard; a production config "
        "has none unless it names them.",
    )
    http_providers: tuple[HttpProviderConfig, ...] = ()
    province: ProvinceKey = Field(
        default="dongthap",
        description="This LGSP's province, as NDXP names it in the addresses of other "
        "provinces' calls.",
    )
    network: NetworkConfig | None = Field(
        default=None,
        description="NDXP, to call other provinces through and to report to NDOP; none: "
        "calls to other provinces answer 503.",
    )
    relays: tuple[ClientId, ...] = Field(
        default=("ndxp.national",),
        description="Clients that forward other provinces' calls (NDXP): only they may "
        "name an origin province (X-LGSP-Origin), whose partner grants then decide.",
    )
    partners: tuple[PartnerConfig, ...] = Field(
        default_factory=demo_partners,
        description="Other provinces and the services this LGSP serves them.",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Where the exchange log (and the client store) live; none keeps them "
        "in memory for the life of the process.",
    )
    store_url: str | None = Field(
        default=None,
        # Never in a repr: the URL may carry the database password.
        repr=False,
        description="PostgreSQL URL (postgresql://user:password@host:5432/db) of the store "
        f"of the bus's shared state, for gateways on several machines (env {STORE_URL_ENV}); "
        "none keeps it in SQLite files in data_dir.",
    )
    tls_cert: Path | None = Field(
        default=None, description="PEM certificate (chain) of the gateway: serve HTTPS."
    )
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert.")
    tls_client_ca: Path | None = Field(
        default=None,
        description="PEM CA bundle of client certificates: clients may then present one "
        "(optional mutual TLS).",
    )
    soc: SocConfig = Field(
        default_factory=SocConfig,
        description="The security monitoring centre: events sent to it, its blocklist.",
    )
    audit_full_services: tuple[str, ...] = Field(
        default=(),
        description="Services and topics (exact or 'prefix.*') whose exchange log records "
        "keep the full request and response bodies; others keep SHA-256 digests only.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_demo_admin_in_production(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("production") and "admins" not in data:
            return {**data, "admins": ()}
        return data

    @field_validator("store_url")
    @classmethod
    def _postgres_url(cls, url: str | None) -> str | None:
        # The URL is not quoted back: it may carry a password.
        if url is not None and not url.startswith(STORE_URL_SCHEMES):
            raise ValueError(
                "store_url must be a PostgreSQL URL: postgresql://user:password@host:port/database"
            )
        return url

    @model_validator(mode="after")
    def _check(self) -> Self:
        ids = [c.id for c in self.clients]
        if len(ids) != len(set(ids)):
            raise ValueError("client ids must be unique")
        partners = [p.province for p in self.partners]
        if len(partners) != len(set(partners)):
            raise ValueError("a partner province is listed twice")
        if self.province in partners:
            raise ValueError(f"{self.province} cannot be its own partner")
        endpoints = [(p.service, p.version, str(p.url)) for p in self.http_providers]
        if len(endpoints) != len(set(endpoints)):
            raise ValueError("an HTTP provider (service, version, url) is listed twice")
        if self.default_timeout_ms > self.max_timeout_ms:
            raise ValueError("default_timeout_ms exceeds max_timeout_ms")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("tls_client_ca needs tls_cert and tls_key")
        if self.production:
            accounts: list[ClientConfig | AdminConfig] = [*self.clients, *self.admins]
            demo = [
                a.id
                for a in accounts
                if a.secret in DEMO_SECRETS or _hashes_a_demo_secret(a.secret_hash)
            ]
            if demo:
                raise ValueError(
                    f"production config refuses demo secrets (clients: {', '.join(demo)})"
                )
        return self

    @property
    def demo(self) -> bool:
        return any(c.secret in DEMO_SECRETS for c in self.clients)

    @classmethod
    def load(cls, path: Path | None, **overrides: object) -> Settings:
        """Read a TOML config; ``overrides`` (e.g. from the environment) win.
        An override that is a mapping is merged into its table (``soc``)."""
        data: dict[str, object] = {}
        if path is not None:
            with path.open("rb") as f:
                data = tomllib.load(f)
        for key, value in overrides.items():
            if value is None:
                continue
            table = data.get(key)
            if isinstance(value, Mapping) and isinstance(table, dict):
                data[key] = {**table, **value}
            else:
                data[key] = value
        return cls.model_validate(data)
