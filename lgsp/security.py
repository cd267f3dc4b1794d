"""Who is calling and what they may use.

Clients authenticate with OAuth2 client credentials and receive a signed
access token (JWT, HS256, via PyJWT); every ``/v1`` call presents it. The
client id is always taken from a verified token, never from a header.
"""

from __future__ import annotations

import base64
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from lgsp.config import ClientConfig, Settings
from lgsp.errors import AdminUnauthenticated, Forbidden, Unauthenticated

ISSUER = "lgsp"
AUDIENCE = "lgsp-gateway"
KEY_ID = "k1"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated client, as a verified token describes it."""

    client: str
    expires: float


def granted(grants: tuple[str, ...], name: str) -> bool:
    """True when ``name`` (a service or topic) matches one of the grants:
    an exact name or a prefix ending in ``.*``."""
    for grant in grants:
        if grant == name or (grant.endswith(".*") and name.startswith(grant[:-1])):
            return True
    return False


class Security:
    """Client authentication, token issuing and checking, grants."""

    def __init__(self, settings: Settings, *, cache_size: int = 4096) -> None:
        self._clients: dict[str, ClientConfig] = {c.id: c for c in settings.clients}
        self._key = settings.token_secret.encode()
        self._ttl = settings.token_ttl_s
        # Verifying an HMAC signature costs more than the rest of a small
        # exchange; a verified token is remembered until it expires.
        self._verified: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size
        self._grants: dict[tuple[str, str], bool] = {}

    def authenticate(self, client_id: str, secret: str) -> ClientConfig | None:
        client = self._clients.get(client_id)
        # Compare even for unknown ids so timing does not reveal which exist.
        expected = client.secret if client else "\0" * 32
        if hmac.compare_digest(expected.encode(), secret.encode()) and client is not None:
            return client
        return None

    def issue(self, client: ClientConfig) -> tuple[str, int]:
        """A signed access token for the client and its lifetime in seconds."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": client.id,
            "iat": now,
            "exp": now + self._ttl,
            "scope": " ".join(client.grants),
        }
        token = jwt.encode(claims, self._key, algorithm="HS256", headers={"kid": KEY_ID})
        return token, self._ttl

    def verify(self, authorization: str | None) -> Principal:
        """The principal of a ``Bearer`` authorization header, or 401."""
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
        if principal.client not in self._clients:
            raise Unauthenticated("client no longer exists")
        return principal

    def _decode(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        return Principal(client=str(claims["sub"]), expires=float(claims["exp"]))

    def authorize(self, client: str, name: str) -> None:
        """403 unless the client was granted this service or topic."""
        key = (client, name)
        allowed = self._grants.get(key)
        if allowed is None:
            allowed = granted(self._clients[client].grants, name)
            self._grants[key] = allowed
        if not allowed:
            raise Forbidden(f"{client} is not granted {name}")

    def rate_limit(self, client: str) -> str | None:
        return self._clients[client].rate_limit


class AdminAuth:
    """Who may use the admin API and the dashboard: operators configured in
    ``admins``, presenting HTTP Basic credentials (a browser asks for them)."""

    def __init__(self, settings: Settings) -> None:
        self._admins = {a.id: a.secret for a in settings.admins}

    def check(self, authorization: str | None) -> str:
        """The operator's id, or 401 with a Basic challenge."""
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise AdminUnauthenticated("admin credentials required (HTTP Basic)")
        try:
            user, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AdminUnauthenticated("malformed Basic credentials") from None
        expected = self._admins.get(user)
        # Compare even for unknown ids so timing does not reveal which exist.
        if not hmac.compare_digest((expected or "\0" * 32).encode(), secret.encode()) or (
            expected is None
        ):
            raise AdminUnauthenticated("wrong admin credentials")
        return user
