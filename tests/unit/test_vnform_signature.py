"""VNForm's webhook signature with real Ed25519 keys (the ``cryptography``
library): what VNForm signs verifies, FormSG's own ``v1`` verifies as
FormSG's SDK checks it, and a forged, tampered or stale delivery is refused
with a reason."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lgsp_adapters.vnform.receiver import mask_comment
from lgsp_adapters.vnform.signature import (
    WINDOW_MS,
    Forged,
    Signed,
    Signer,
    Stale,
    Verifier,
    base_string,
)

URL = "https://lgsp.dongthap.gov.vn/webhooks/vnform"
SID = "6650a1b2c3d4e5f601234567"
FORM = "khao-sat-1.004873"
BODY = b'{"data": {"submissionId": "6650a1b2c3d4e5f601234567"}}'


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate()


def test_a_signed_delivery_verifies(signer: Signer) -> None:
    at = now_ms()
    header = signer.sign(URL, SID, FORM, BODY, at).render()
    assert header.startswith(f"t={at},s={SID},f={FORM},v1=")
    signed = Verifier(signer.public_key).verify(header, URL, BODY, at + 1000)
    assert (signed.submission_id, signed.form_id, signed.epoch_ms) == (SID, FORM, at)


def test_v1_is_formsg_own_signature_over_url_submission_form_and_time(signer: Signer) -> None:
    at = now_ms()
    signed = signer.sign(URL, SID, FORM, BODY, at)
    # As FormSG's SDK verifies it: the public key's 32 raw bytes, base64.
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(signer.public_key))
    key.verify(base64.b64decode(signed.v1), base_string(URL, SID, FORM, at).encode())
    assert base_string(URL, SID, FORM, at) == f"{URL}.{SID}.{FORM}.{at}"


def test_a_signature_by_another_key_is_forged(signer: Signer) -> None:
    at = now_ms()
    header = Signer.generate().sign(URL, SID, FORM, BODY, at).render()
    with pytest.raises(Forged, match="does not verify"):
        Verifier(signer.public_key).verify(header, URL, BODY, at)


def test_a_changed_answer_or_another_url_fails_the_signature(signer: Signer) -> None:
    at = now_ms()
    header = signer.sign(URL, SID, FORM, BODY, at).render()
    verifier = Verifier(signer.public_key)
    with pytest.raises(Forged):
        verifier.verify(header, URL, BODY.replace(b"6650", b"6651"), at)
    with pytest.raises(Forged):
        verifier.verify(header, "https://elsewhere.example/webhooks/vnform", BODY, at)
    # The header's parts are signed too: another submission id fails.
    other = signer.sign(URL, SID, FORM, BODY, at)
    moved = Signed(other.epoch_ms, "f" * 24, other.form_id, other.v1, other.v2)
    with pytest.raises(Forged):
        verifier.verify(moved.render(), URL, BODY, at)


@pytest.mark.parametrize("offset", [WINDOW_MS + 1000, -(WINDOW_MS + 1000)])
def test_a_signature_outside_five_minutes_is_stale(signer: Signer, offset: int) -> None:
    at = now_ms()
    header = signer.sign(URL, SID, FORM, BODY, at - offset).render()
    with pytest.raises(Stale, match="5-minute window"):
        Verifier(signer.public_key).verify(header, URL, BODY, at)


@pytest.mark.parametrize(
    "header",
    [None, "", "t=1,s=a,f=b", "t=x,s=a,f=b,v1=c,v2=d", "t=1,s=,f=b,v1=c,v2=d", "garbage"],
)
def test_a_missing_or_malformed_header_is_forged(signer: Signer, header: str | None) -> None:
    with pytest.raises(Forged):
        Verifier(signer.public_key).verify(header, URL, BODY, now_ms())


def test_a_public_key_that_is_not_32_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Verifier(base64.b64encode(b"short").decode())


def test_the_key_is_kept_owner_only_and_the_same_across_starts(tmp_path: Path) -> None:
    path = tmp_path / "vnform" / "signing-key.pem"
    first = Signer.kept_in(path)
    assert path.stat().st_mode & 0o077 == 0
    assert Signer.kept_in(path).public_key == first.public_key
    assert Signer.kept_in(None).public_key != first.public_key


def test_comments_lose_personal_ids_phones_and_addresses() -> None:
    masked = mask_comment(
        "Tôi tên Hùng, CCCD 087090001234, gọi 0912345678 hoặc +84912345678, "
        "thư hung.nguyen@example.com; hồ sơ 000.00.00.H20-250604-0001 đúng hẹn."
    )
    assert "087*******34" in masked
    assert "0912345678" not in masked
    assert "********78" in masked
    assert "+84912345678" not in masked
    assert "example.com" not in masked
    # What is not personal stays: the dossier number, the words.
    assert "000.00.00.H20-250604-0001 đúng hẹn" in masked
