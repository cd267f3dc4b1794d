"""TLS for the gateway: its server context (optionally asking for client
certificates) and the certificate thumbprints that bind tokens (RFC 8705)."""

from __future__ import annotations

import base64
import hashlib
import ssl
from pathlib import Path


def tls_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """The gateway's server TLS context. With ``client_ca``, clients may
    present a certificate signed by it (optional: secrets still work)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def certificate_thumbprint(der: bytes) -> str:
    """``x5t#S256`` of a DER certificate: base64url SHA-256, no padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def x5t_s256(thumbprint_hex: str) -> str:
    """The RFC 8705 ``x5t#S256`` form (base64url, no padding) of a hex thumbprint."""
    return base64.urlsafe_b64encode(bytes.fromhex(thumbprint_hex)).rstrip(b"=").decode()
