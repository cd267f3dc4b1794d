"""TLS for the gateway: its server context (optionally asking for client
certificates), the certificate thumbprints that bind tokens (RFC 8705), and
who hears of a failed handshake (the security monitoring feed)."""

from __future__ import annotations

import base64
import hashlib
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class HandshakeFailure:
    """A client whose TLS handshake with the gateway failed."""

    reason: str
    """OpenSSL's reason (``NO_SHARED_CIPHER``, ``CERTIFICATE_VERIFY_FAILED``, ...)."""
    peer: tuple[str, int] | None
    local_port: int | None


_listeners: list[Callable[[HandshakeFailure], None]] = []


def on_handshake_failure(listener: Callable[[HandshakeFailure], None]) -> Callable[[], None]:
    """Call ``listener`` for each failed handshake on a context of
    :func:`tls_context` in this process; returns what stops it."""
    _listeners.append(listener)

    def stop() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return stop


class _Watched(ssl.SSLObject):
    """The gateway's TLS objects: a handshake that fails is told to the
    listeners. asyncio reports no SSL error of a server's handshake (an
    ``OSError``: only logged in debug mode), so this is where it is seen.
    Only the handshake passes here, never a request on an open connection."""

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            if _listeners:
                _tell(HandshakeFailure(exc.reason or type(exc).__name__, *_addresses()))
            raise


def _addresses() -> tuple[tuple[str, int] | None, int | None]:
    """The peer and our port, from asyncio's SSL protocol that called the
    handshake (its transport knows them; the TLS object does not). Best
    effort: None where that protocol is not found."""
    caller = sys._getframe(2).f_locals.get("self")
    transport = getattr(caller, "_transport", None)
    get = getattr(transport, "get_extra_info", None)
    if get is None:
        return None, None
    peer, local = get("peername"), get("sockname")
    return (
        (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None,
        int(local[1]) if isinstance(local, tuple) else None,
    )


def _tell(failure: HandshakeFailure) -> None:
    for listener in tuple(_listeners):
        listener(failure)


def tls_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """The gateway's server TLS context. With ``client_ca``, clients may
    present a certificate signed by it (optional: secrets still work)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    context.sslobject_class = _Watched
    return context


def certificate_thumbprint(der: bytes) -> str:
    """``x5t#S256`` of a DER certificate: base64url SHA-256, no padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def x5t_s256(thumbprint_hex: str) -> str:
    """The RFC 8705 ``x5t#S256`` form (base64url, no padding) of a hex thumbprint."""
    return base64.urlsafe_b64encode(bytes.fromhex(thumbprint_hex)).rstrip(b"=").decode()
