"""The testing kit as an integrator uses it: a test file of their own run by
pytest with the plugin that lgsp installs, on both transports."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INTEGRATOR_TESTS = """
import aiohttp
import pytest

from lgsp import Adapter, Catalogue, Context, Contract, ServiceContract
from lgsp.testing import Bus

pytestmark = pytest.mark.asyncio


class Hello(Contract):
    name: str


class Greeting(Contract):
    text: str


CATALOGUE = Catalogue(
    services=(
        ServiceContract(
            service="demo.hello.say",
            version=1,
            owner="test",
            description="Says hello",
            request=Hello,
            response=Greeting,
        ),
    )
)
adapter = Adapter("hello", agency="test")


@adapter.service("demo.hello.say", version=1)
async def say(request: Hello, ctx: Context) -> Greeting:
    return Greeting(text=f"Xin chào {request.name} ({ctx.client})")


@pytest.fixture
def lgsp_catalogues() -> list[Catalogue]:
    return [CATALOGUE]


@pytest.fixture
def lgsp_adapters() -> list[Adapter]:
    return [adapter]


async def test_handler(lgsp_bus: Bus) -> None:
    answer = await lgsp_bus.call("demo.hello.say", {"name": "An"})
    assert (answer.status, answer.json) == (200, {"text": "Xin chào An (lgsp.test)"})
    refused = await lgsp_bus.call("demo.hello.say", {"name": 1})
    assert refused.json["code"] == "contract.request_invalid"


async def test_client(lgsp_bus: Bus) -> None:
    # A client under test speaks HTTP to the gateway like to a real bus.
    async with aiohttp.ClientSession(lgsp_bus.url) as http:
        form = {"grant_type": "client_credentials", "client_id": "dongthap.onestop",
                "client_secret": "demo-onestop-secret"}
        async with http.post("/oauth2/token", data=form) as r:
            token = (await r.json())["access_token"]
        lookup = lgsp_bus.registry.service("population.citizen.lookup").examples[0]
        async with http.post("/v1/services/population.citizen.lookup", json=lookup.request,
                             headers={"Authorization": f"Bearer {token}"}) as r:
            assert (r.status, await r.json()) == (200, lookup.response)
"""


ADDED_LATER = """
import pytest

from lgsp import Catalogue
from lgsp.testing import Bus
from test_integrator import CATALOGUE, adapter

pytestmark = pytest.mark.asyncio


@pytest.fixture
def lgsp_catalogues() -> list[Catalogue]:
    return [CATALOGUE]


async def test_added_in_the_test(lgsp_bus: Bus) -> None:
    assert (await lgsp_bus.call("demo.hello.say", {"name": "An"})).status == 503
    await lgsp_bus.add(adapter)
    assert (await lgsp_bus.call("demo.hello.say", {"name": "An"})).status == 200
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_integrator=INTEGRATOR_TESTS, test_added=ADDED_LATER)
    # A subprocess: the NDXP connector reads its environment once per process.
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_memory(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["lgsp_bus transport: memory"])


@pytest.mark.amqp
def test_amqp(
    pytester: pytest.Pytester, lgsp_rabbitmq_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGSP_TEST_AMQP_URL", lgsp_rabbitmq_url)
    result = run(pytester, "--lgsp-transport=amqp")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["lgsp_bus transport: amqp"])
