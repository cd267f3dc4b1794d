"""Who may use the admin API and the dashboard: operators, with HTTP Basic
credentials checked against argon2 hashes."""

from __future__ import annotations

import asyncio
import base64
import hashlib

from lgsp.config import AdminConfig, Settings
from lgsp.errors import AdminUnauthenticated
from lgsp.trust.clients import hash_config_secret, verify_secret


class AdminAuth:
    """Who may use the admin API and the dashboard: operators configured in
    ``admins``, presenting HTTP Basic credentials (a browser asks for them).

    Secrets are kept as argon2 hashes. The dashboard polls every few seconds
    and each poll is checked, so a successful verification is remembered,
    keyed by a SHA-256 of the credentials, until the admins change.
    """

    def __init__(self, settings: Settings, *, cache_size: int = 256) -> None:
        self._cache_size = cache_size
        self._ok: dict[bytes, str] = {}
        self._hashes: dict[str, str] = {}
        self.set_admins(settings.admins)

    def set_admins(self, admins: tuple[AdminConfig, ...]) -> None:
        self._hashes = {a.id: a.secret_hash or hash_config_secret(a.secret or "") for a in admins}
        self._ok.clear()

    async def check(self, authorization: str | None) -> str:
        """The operator's id, or 401 with a Basic challenge. argon2 takes tens
        of milliseconds: a first or wrong attempt is verified off the event
        loop, so guessing at the admin API cannot stall the exchanges."""
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise AdminUnauthenticated("admin credentials required (HTTP Basic)")
        digest = hashlib.sha256(encoded.strip().encode()).digest()
        user = self._ok.get(digest)
        if user is not None:
            return user
        try:
            user, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AdminUnauthenticated("malformed Basic credentials") from None
        # Verified even for unknown ids so timing does not reveal which exist.
        if not await asyncio.to_thread(verify_secret, self._hashes.get(user), secret):
            raise AdminUnauthenticated("wrong admin credentials")
        if len(self._ok) >= self._cache_size:
            self._ok.clear()
        self._ok[digest] = user
        return user
