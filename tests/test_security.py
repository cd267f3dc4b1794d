from __future__ import annotations

import time

import jwt
import pytest

from lgsp.config import ClientConfig, Settings
from lgsp.errors import Forbidden, Unauthenticated
from lgsp.security import Security, granted

SECRET = "k" * 40


def security(**overrides: object) -> Security:
    clients = (
        ClientConfig(
            id="a.one", secret="secret-one", grants=("population.*", "land.parcel.lookup")
        ),
    )
    return Security(Settings(clients=clients, token_secret=SECRET, **overrides))  # type: ignore[arg-type]


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


def test_authenticate_checks_the_secret() -> None:
    s = security()
    assert s.authenticate("a.one", "secret-one") is not None
    assert s.authenticate("a.one", "secret-two") is None
    assert s.authenticate("b.two", "secret-one") is None


def test_issued_token_verifies_and_carries_the_client() -> None:
    s = security()
    client = s.authenticate("a.one", "secret-one")
    assert client is not None
    token, ttl = s.issue(client)
    assert ttl == 3600
    assert jwt.get_unverified_header(token)["kid"]
    principal = s.verify(f"Bearer {token}")
    assert principal.client == "a.one"
    # Cached verification gives the same answer.
    assert s.verify(f"bearer {token}") == principal


def test_token_of_another_gateway_key_is_refused() -> None:
    client = security().authenticate("a.one", "secret-one")
    assert client is not None
    token, _ = Security(Settings(clients=(client,), token_secret="z" * 40)).issue(client)
    with pytest.raises(Unauthenticated, match="invalid token"):
        security().verify(f"Bearer {token}")


def test_expired_token_is_refused_even_from_the_cache() -> None:
    s = security(token_ttl_s=1)
    client = s.authenticate("a.one", "secret-one")
    assert client is not None
    token, _ = s.issue(client)
    principal = s.verify(f"Bearer {token}")
    s._verified[token] = type(principal)(principal.client, time.time() - 1)
    with pytest.raises(Unauthenticated, match="expired"):
        s.verify(f"Bearer {token}")


def test_authorize() -> None:
    s = security()
    s.authorize("a.one", "population.citizen.verify")
    with pytest.raises(Forbidden):
        s.authorize("a.one", "onestop.dossier.submit")
