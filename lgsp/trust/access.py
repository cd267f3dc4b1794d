"""Who is calling and what they may use.

Clients authenticate with OAuth2 client credentials (a secret, verified
against its argon2 hash, or a TLS client certificate) and receive a signed
access token (JWT, HS256 with a ``kid``, via PyJWT); every ``/v1`` call
presents it. The client id is always taken from a verified token, never from
a header. Clients, grants and keys come from the client store
(:mod:`lgsp.trust.clients`); this module keeps what the request path needs in
memory and drops it whenever the store changes.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from lgsp.config import Settings, granted
from lgsp.errors import Forbidden, Unauthenticated
from lgsp.trust.clients import (
    Client,
    ClientStore,
    SigningKey,
    Snapshot,
    verify_secret,
)
from lgsp.trust.tls import x5t_s256

ISSUER = "lgsp"
AUDIENCE = "lgsp-gateway"


class InvalidScope(Exception):
    """A token request's scope is malformed or asks for more than the
    client's grants (OAuth2 ``invalid_scope``)."""


# A name or pattern as grants write them, optionally @province or @*.
_SCOPE_ITEM = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)*(\.\*)?(@([a-z0-9_-]+|\*))?$")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated client, as a verified token describes it."""

    client: str
    expires: float
    issued: float = 0.0
    bound_to: str | None = None
    """``x5t#S256`` of the certificate the token is bound to (RFC 8705)."""
    scope: tuple[str, ...] | None = None
    """What the token was narrowed to when it was asked for (RFC 6749 §3.3),
    in the grants' own terms; None: whatever the client is granted."""


class Security:
    """Client authentication, token issuing and checking, grants and quotas,
    over the client store's current snapshot (the store may open later: it
    hands over each snapshot as it loads one)."""

    def __init__(self, settings: Settings, store: ClientStore, *, cache_size: int = 4096) -> None:
        self.store = store
        self._ttl = settings.token_ttl_s
        # Verifying an HMAC signature costs more than the rest of a small
        # exchange; a verified token is remembered until it expires.
        self._verified: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size
        self._grants: dict[tuple[str, str], bool] = {}
        self._clients: Mapping[str, Client] = {}
        self._keys: dict[str, SigningKey] = {}
        self._signing: SigningKey | None = None
        self.store.subscribe(self._load)

    def _load(self, snapshot: Snapshot) -> None:
        # Anything derived from the old snapshot (verified tokens of a revoked
        # client, grants) goes at once; the caches refill on the next calls.
        self._clients = snapshot.clients
        self._keys = {k.kid: k for k in snapshot.keys}
        self._signing = snapshot.signing if snapshot.keys else None
        self._verified.clear()
        self._grants.clear()

    def client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def authenticate(self, client_id: str, secret: str) -> Client | None:
        """The client, if enabled and ``secret`` is its secret. Takes an
        argon2 verification (tens of ms): call it off the event loop."""
        client = self._clients.get(client_id)
        # Verified even for unknown ids so timing does not reveal which exist.
        ok = verify_secret(client.secret_hash if client else None, secret)
        if ok and client is not None and client.enabled:
            return client
        return None

    def authenticate_certificate(self, client_id: str, certificate: str | None) -> Client | None:
        """The client, if enabled and configured with the certificate whose
        ``x5t#S256`` the connection presented (RFC 8705 tls_client_auth)."""
        client = self._clients.get(client_id)
        if client is None or certificate is None or not client.enabled:
            return None
        if client.certificate_sha256 is None or x5t_s256(client.certificate_sha256) != certificate:
            return None
        return client

    def narrow(self, client: Client, requested: str) -> tuple[str, ...]:
        """The scope a token request asks for (RFC 6749 §3.3: names separated
        by spaces, in the grants' terms: ``land.parcel.lookup``, ``land.*``,
        ``land.*@gialai``), each covered by one of the client's grants; else
        :class:`InvalidScope` naming those that are not."""
        items = tuple(dict.fromkeys(requested.split(" ")))
        if not requested or "" in items:
            raise InvalidScope("scope must be names separated by single spaces")
        malformed = [i for i in items if not _SCOPE_ITEM.match(i)]
        if malformed:
            raise InvalidScope(f"not a service, topic or pattern: {', '.join(malformed)}")
        refused = [i for i in items if not granted(client.grants, i)]
        if refused:
            raise InvalidScope(f"{client.id} is not granted {', '.join(refused)}")
        return items

    def issue(
        self, client: Client, *, bound_to: str | None = None, scope: tuple[str, ...] | None = None
    ) -> tuple[str, int]:
        """A signed access token for the client and its lifetime in seconds;
        ``bound_to`` (an ``x5t#S256``) binds it to a certificate, ``scope``
        (from :meth:`narrow`) narrows it to part of the client's grants."""
        if self._signing is None:
            raise Unauthenticated("no signing key")
        now = time.time()
        claims: dict[str, object] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": client.id,
            # Milliseconds, so a revocation and a re-enable within one second
            # still tell old tokens from new ones; rounded down, since a token
            # made less than half a millisecond before a revocation would
            # otherwise carry a later time than the revocation and outlive it.
            "iat": math.floor(now * 1000) / 1000,
            "exp": int(now) + self._ttl,
            "scope": " ".join(client.grants if scope is None else scope),
        }
        if scope is not None:
            # A token asked for with a scope is held to it; one without keeps
            # following the client's grants, as they change.
            claims["narrowed"] = True
        if bound_to is not None:
            claims["cnf"] = {"x5t#S256": bound_to}
        token = jwt.encode(
            claims, self._signing.secret, algorithm="HS256", headers={"kid": self._signing.kid}
        )
        return token, self._ttl

    def verify(self, authorization: str | None, certificate: str | None = None) -> Principal:
        """The principal of a ``Bearer`` authorization header, or 401.
        ``certificate`` is the ``x5t#S256`` of the connection's client
        certificate, if it presented one (checked for bound tokens)."""
        if not authorization:
            raise Unauthenticated("missing Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Authorization must be 'Bearer <token>'")
        principal = self._verified.get(token)
        if principal is None:
            principal = self._decode(token)
            self._verified[token] = principal
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        if principal.expires <= time.time():
            self._verified.pop(token, None)
            raise Unauthenticated("token expired")
        client = self._clients.get(principal.client)
        if client is None:
            raise Unauthenticated("client no longer exists")
        if not client.enabled or principal.issued < client.not_before:
            raise Unauthenticated("client revoked")
        if principal.bound_to is not None and principal.bound_to != certificate:
            raise Unauthenticated("token is bound to a client certificate this connection lacks")
        return principal

    def _decode(self, token: str) -> Principal:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthenticated("token signed with an unknown key")
        try:
            claims = jwt.decode(
                token,
                key.secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        cnf = claims.get("cnf")
        bound = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
        scope = claims.get("scope") if claims.get("narrowed") is True else None
        return Principal(
            client=str(claims["sub"]),
            expires=float(claims["exp"]),
            issued=float(claims["iat"]),
            bound_to=str(bound) if bound is not None else None,
            scope=tuple(scope.split(" ")) if isinstance(scope, str) else None,
        )

    def authorize(self, client: str, name: str, scope: tuple[str, ...] | None = None) -> None:
        """403 unless the client was granted this service or topic, and
        ``scope`` (a narrowed token's) includes it."""
        key = (client, name)
        allowed = self._grants.get(key)
        if allowed is None:
            allowed = granted(self._clients[client].grants, name)
            self._grants[key] = allowed
        if not allowed:
            raise Forbidden(f"{client} is not granted {name}")
        if scope is not None and not granted(scope, name):
            raise Forbidden(f"this token's scope does not include {name}")

    def quota(self, client: str) -> tuple[float, int] | None:
        """(requests per second, burst) of the client, or None: unlimited."""
        found = self._clients.get(client)
        return found.quota if found is not None else None
