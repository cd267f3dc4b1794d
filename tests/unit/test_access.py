from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import jwt
import pytest

from lgsp.config import AdminConfig, ClientConfig, Settings, granted
from lgsp.errors import AdminUnauthenticated, Forbidden, Unauthenticated
from lgsp.trust.access import Security
from lgsp.trust.clients import ClientStore, hash_secret, revoked
from lgsp.trust.operators import AdminAuth
from lgsp.trust.tls import x5t_s256

SECRET = "k" * 40


Make = Callable[..., Awaitable[Security]]


@pytest.fixture
async def security() -> AsyncIterator[Make]:
    """Security over a client store of its own (in memory) made from
    settings overrides; the stores close after the test."""
    opened: list[ClientStore] = []

    async def make(**overrides: object) -> Security:
        clients = (
            ClientConfig(
                id="a.one", secret="secret-one", grants=("population.*", "land.parcel.lookup")
            ),
        )
        values: dict[str, object] = {"clients": clients, "token_secret": SECRET, **overrides}
        settings = Settings.model_validate(values)
        opened.append(await ClientStore.open(settings))
        return Security(settings, opened[-1])

    yield make
    for store in opened:
        await store.close()


@pytest.mark.parametrize(
    ("grants", "name", "expected"),
    [
        (("population.*",), "population.citizen.lookup", True),
        (("population.*",), "populationx.citizen.lookup", False),
        (("land.parcel.lookup",), "land.parcel.lookup", True),
        (("land.parcel.lookup",), "land.parcel.lookup2", False),
        (("land.parcel.*",), "land.certificate.lookup", False),
        ((), "land.parcel.lookup", False),
    ],
)
def test_granted(grants: tuple[str, ...], name: str, expected: bool) -> None:
    assert granted(grants, name) is expected


async def test_authenticate_checks_the_secret(security: Make) -> None:
    s = await security()
    assert s.authenticate("a.one", "secret-one") is not None
    assert s.authenticate("a.one", "secret-two") is None
    assert s.authenticate("b.two", "secret-one") is None


async def test_issued_token_verifies_and_carries_the_client(security: Make) -> None:
    s = await security()
    client = s.authenticate("a.one", "secret-one")
    assert client is not None
    token, ttl = s.issue(client)
    assert ttl == 3600
    assert jwt.get_unverified_header(token)["kid"]
    principal = s.verify(f"Bearer {token}")
    assert principal.client == "a.one"
    # Cached verification gives the same answer.
    assert s.verify(f"bearer {token}") == principal


async def test_token_of_another_gateway_key_is_refused(security: Make) -> None:
    other = await security(token_secret="z" * 40)
    client = other.authenticate("a.one", "secret-one")
    assert client is not None
    token, _ = other.issue(client)
    with pytest.raises(Unauthenticated, match="invalid token"):
        (await security()).verify(f"Bearer {token}")


async def test_gateways_sharing_the_token_secret_verify_each_others_tokens(security: Make) -> None:
    first, second = await security(), await security()
    client = first.authenticate("a.one", "secret-one")
    assert client is not None
    token, _ = first.issue(client)
    assert second.verify(f"Bearer {token}").client == "a.one"


async def test_secrets_are_kept_as_argon2_hashes(security: Make) -> None:
    s = await security()
    stored = s.client("a.one")
    assert stored is not None
    assert stored.secret_hash is not None
    assert stored.secret_hash.startswith("$argon2id$")
    assert "secret-one" not in stored.secret_hash


async def test_a_configured_secret_hash_authenticates(security: Make) -> None:
    hashed = ClientConfig(id="b.two", secret_hash=hash_secret("hashed-secret"), grants=())
    s = await security(clients=(hashed,))
    assert s.authenticate("b.two", "hashed-secret") is not None
    assert s.authenticate("b.two", "hashed-secreT") is None


async def test_a_token_from_before_a_key_rotation_still_works_and_new_ones_use_the_new_kid(
    security: Make,
) -> None:
    s = await security()
    client = s.authenticate("a.one", "secret-one")
    assert client is not None
    before, _ = s.issue(client)
    old_kid = jwt.get_unverified_header(before)["kid"]
    key = await s.store.rotate_key()
    after, _ = s.issue(client)
    assert jwt.get_unverified_header(after)["kid"] == key.kid != old_kid
    assert s.verify(f"Bearer {before}").client == "a.one"
    assert s.verify(f"Bearer {after}").client == "a.one"


async def test_a_token_with_an_unknown_kid_is_refused(security: Make) -> None:
    s = await security()
    forged = jwt.encode(
        {"iss": "lgsp", "aud": "lgsp-gateway", "sub": "a.one", "iat": time.time(),
         "exp": time.time() + 60},
        SECRET,
        algorithm="HS256",
        headers={"kid": "nope"},
    )  # fmt: skip
    with pytest.raises(Unauthenticated, match="unknown key"):
        s.verify(f"Bearer {forged}")


async def test_revocation_ends_secret_and_tokens_at_once_and_enable_keeps_old_tokens_dead(
    security: Make,
) -> None:
    s = await security()
    client = s.authenticate("a.one", "secret-one")
    assert client is not None
    token, _ = s.issue(client)
    s.verify(f"Bearer {token}")  # now in the verified-token cache
    await s.store.update("a.one", revoked)
    with pytest.raises(Unauthenticated, match="revoked"):
        s.verify(f"Bearer {token}")
    assert s.authenticate("a.one", "secret-one") is None
    await s.store.update("a.one", lambda c: replace(c, enabled=True))
    with pytest.raises(Unauthenticated, match="revoked"):
        s.verify(f"Bearer {token}")
    fresh = s.authenticate("a.one", "secret-one")
    assert fresh is not None
    new_token, _ = s.issue(fresh)
    assert s.verify(f"Bearer {new_token}").client == "a.one"


async def test_a_token_made_just_before_a_revocation_dies_with_it(
    security: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens carry their issue time in milliseconds: one made less than
    half a millisecond before the revocation must not look younger than it."""
    s = await security()
    client = s.authenticate("a.one", "secret-one")
    assert client is not None
    # A real second (the JWT library checks expiry on its own clock), then
    # issued 0.6 ms into it (rounded to the nearest, 1.0 ms) and revoked 0.2 ms later.
    now = [float(int(time.time())) + 0.0006]
    monkeypatch.setattr(time, "time", lambda: now[0])
    token, _ = s.issue(client)
    now[0] += 0.0002
    await s.store.update("a.one", revoked)
    await s.store.update("a.one", lambda c: replace(c, enabled=True))
    with pytest.raises(Unauthenticated, match="revoked"):
        s.verify(f"Bearer {token}")


async def test_a_grant_change_applies_without_restart(security: Make) -> None:
    s = await security()
    with pytest.raises(Forbidden):
        s.authorize("a.one", "onestop.dossier.submit")  # now cached as refused
    await s.store.update("a.one", lambda c: replace(c, grants=(*c.grants, "onestop.*")))
    s.authorize("a.one", "onestop.dossier.submit")


async def test_a_certificate_bound_token_needs_the_same_certificate(security: Make) -> None:
    thumbprint = "ab" * 32
    cert_only = ClientConfig(id="c.cert", certificate_sha256=thumbprint, grants=())
    s = await security(clients=(cert_only,))
    presented = x5t_s256(thumbprint)
    assert s.authenticate_certificate("c.cert", x5t_s256("cd" * 32)) is None
    assert s.authenticate_certificate("c.cert", None) is None
    client = s.authenticate_certificate("c.cert", presented)
    assert client is not None
    assert s.authenticate("c.cert", "any-secret-at-all") is None
    token, _ = s.issue(client, bound_to=presented)
    assert s.verify(f"Bearer {token}", presented).client == "c.cert"
    with pytest.raises(Unauthenticated, match="certificate"):
        s.verify(f"Bearer {token}")


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


async def test_admin_auth_checks_hashed_secrets_and_remembers_success() -> None:
    admins = (AdminConfig(id="ops", secret_hash=hash_secret("ops-secret-123")),)
    auth = AdminAuth(Settings(admins=admins, token_secret=SECRET))
    assert await auth.check(_basic("ops", "ops-secret-123")) == "ops"
    assert len(auth._ok) == 1
    assert await auth.check(_basic("ops", "ops-secret-123")) == "ops"
    for wrong in (_basic("ops", "nope-nope"), _basic("nobody", "ops-secret-123"), None, "Basic !"):
        with pytest.raises(AdminUnauthenticated):
            await auth.check(wrong)
    auth.set_admins(())
    assert not auth._ok
    with pytest.raises(AdminUnauthenticated):
        await auth.check(_basic("ops", "ops-secret-123"))


async def test_expired_token_is_refused_even_from_the_cache(security: Make) -> None:
    s = await security(token_ttl_s=1)
    client = s.authenticate("a.one", "secret-one")
    assert client is not None
    token, _ = s.issue(client)
    principal = s.verify(f"Bearer {token}")
    s._verified[token] = replace(principal, expires=time.time() - 1)
    with pytest.raises(Unauthenticated, match="expired"):
        s.verify(f"Bearer {token}")


async def test_authorize(security: Make) -> None:
    s = await security()
    s.authorize("a.one", "population.citizen.verify")
    with pytest.raises(Forbidden):
        s.authorize("a.one", "onestop.dossier.submit")
