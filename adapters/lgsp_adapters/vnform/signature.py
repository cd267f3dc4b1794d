"""The webhook signature, in the manner of FormSG (which VNForm is reported
to derive from): an Ed25519 signature in the ``X-FormSG-Signature`` header,

    X-FormSG-Signature: t=<epoch ms>,s=<submission id>,f=<form id>,v1=<base64>,v2=<base64>

``v1`` is FormSG's own: the signature of ``<webhook url>.<submission
id>.<form id>.<epoch ms>`` (FormSG's SDKs authenticate it). FormSG's body
is encrypted to the form's own key, which authenticates the answers; the
simulated VNForm sends them in clear, so ``v2`` signs the same string
followed by ``.`` and the base64 SHA-256 of the body, and the province
checks ``v2``: a changed answer fails it. The key is the platform's,
published as base64 of its 32 raw bytes (FormSG's form), and signatures
are base64 of their 64 bytes.

The receiver refuses a signature that does not verify, and one made more
than five minutes from now (FormSG's window): a captured delivery cannot
be replayed later. A replay within the window is refused by the
submission id (:mod:`~lgsp_adapters.vnform.receiver`).

Ed25519 is the ``cryptography`` library's (OpenSSL's): the one the bus's
test tools and TLS already bring, with no second binding to libsodium.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HEADER: Final = "X-FormSG-Signature"
WINDOW_MS: Final = 5 * 60 * 1000
"""How far a signature's time may be from the receiver's clock, either way."""


class SignatureRefused(ValueError):
    """A delivery whose signature the receiver does not accept."""

    code = "vnform.webhook.forged"


class Forged(SignatureRefused):
    """No signature, a malformed one, or one that does not verify."""


class Stale(SignatureRefused):
    """A signature made outside the window: a replay, or a clock far off."""

    code = "vnform.webhook.stale"


@dataclass(frozen=True)
class Signed:
    """What ``X-FormSG-Signature`` says."""

    epoch_ms: int
    submission_id: str
    form_id: str
    v1: str
    v2: str

    def render(self) -> str:
        return (
            f"t={self.epoch_ms},s={self.submission_id},f={self.form_id},v1={self.v1},v2={self.v2}"
        )

    @classmethod
    def parse(cls, header: str | None) -> Signed:
        """The header's parts (FormSG's parser: ``k=v`` pairs, comma-separated;
        a value may hold ``=``, as base64 does)."""
        if not header:
            raise Forged(f"no {HEADER} header")
        parts: dict[str, str] = {}
        for pair in header.split(","):
            key, sep, value = pair.strip().partition("=")
            if sep:
                parts[key] = value
        try:
            epoch = int(parts["t"])
            found = cls(epoch, parts["s"], parts["f"], parts["v1"], parts["v2"])
        except (KeyError, ValueError):
            raise Forged(f"{HEADER} is not t=...,s=...,f=...,v1=...,v2=...") from None
        if not (found.submission_id and found.form_id and found.v1 and found.v2):
            raise Forged(f"{HEADER} has an empty part")
        return found


def base_string(url: str, submission_id: str, form_id: str, epoch_ms: int) -> str:
    """What FormSG signs (``v1``)."""
    return f"{url}.{submission_id}.{form_id}.{epoch_ms}"


def content_string(url: str, submission_id: str, form_id: str, epoch_ms: int, body: bytes) -> str:
    """What ``v2`` signs: FormSG's string and the body's digest."""
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return f"{base_string(url, submission_id, form_id, epoch_ms)}.{digest}"


class Signer:
    """The platform's signing key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def kept_in(cls, path: Path | None) -> Signer:
        """The key in ``path`` (PKCS#8 PEM), made and written there the
        first time (owner-only); a new key each time without a path."""
        if path is None:
            return cls.generate()
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} does not hold an Ed25519 key")
            return cls(key)
        signer = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = signer._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
        return signer

    @property
    def public_key(self) -> str:
        """The public key as FormSG publishes its own: base64 of 32 bytes."""
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def _sign(self, text: str) -> str:
        return base64.b64encode(self._key.sign(text.encode())).decode()

    def sign(
        self, url: str, submission_id: str, form_id: str, body: bytes, epoch_ms: int
    ) -> Signed:
        """The signature header of one delivery of ``body`` to ``url``."""
        return Signed(
            epoch_ms,
            submission_id,
            form_id,
            self._sign(base_string(url, submission_id, form_id, epoch_ms)),
            self._sign(content_string(url, submission_id, form_id, epoch_ms, body)),
        )


class Verifier:
    """The province's check of VNForm's deliveries, with VNForm's public key."""

    def __init__(self, public_key: str) -> None:
        try:
            raw = base64.b64decode(public_key, validate=True)
            self._key = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("a VNForm public key is base64 of 32 bytes") from exc
        self.public_key = public_key

    def verify(self, header: str | None, url: str, body: bytes, now_ms: int) -> Signed:
        """The header's parts once its ``v2`` signature verifies over
        ``url`` and ``body`` and its time is within five minutes of
        ``now_ms``; :class:`Forged` or :class:`Stale` otherwise."""
        signed = Signed.parse(header)
        text = content_string(url, signed.submission_id, signed.form_id, signed.epoch_ms, body)
        try:
            signature = base64.b64decode(signed.v2, validate=True)
            self._key.verify(signature, text.encode())
        except (binascii.Error, ValueError, InvalidSignature):
            raise Forged(
                f"the signature does not verify with VNForm's public key over {url}, the "
                "submission, the form, the time and the body"
            ) from None
        skew = now_ms - signed.epoch_ms
        if abs(skew) > WINDOW_MS:
            when = "ago" if skew > 0 else "ahead"
            raise Stale(
                f"the signature was made {abs(skew) / 1000:.0f} s {when}, outside the "
                f"{WINDOW_MS // 60000}-minute window: a replayed delivery, or a clock far off"
            )
        return signed
