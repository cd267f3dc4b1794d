"""Bad input, tried for real: generated requests against a running gateway.

Two fuzzers, one gateway (memory transport, every mock system and the
simulated NDXP, on 127.0.0.1):

- **schemathesis** reads the gateway's own ``/openapi.json`` and calls every
  operation with requests that match it (positive) and that break it
  (negative), as a client with every grant and as one with few;
- **hypothesis**, per service version and topic of the catalogue, posts
  payloads valid by the contract's schema, payloads that break it, arbitrary
  JSON, deep nesting, huge numbers, odd unicode and bytes that are no JSON.

Whatever arrives, the bus answers: never a 5xx of its own, never a hang, and
every refusal is a problem with a code the protocol or the contract declares.
Examples are derandomized (the same cases on every run, so a CI failure
replays on a laptop); ``LGSP_FUZZ_EXAMPLES=<n>`` runs more, freshly random
(docs/testing-bad-input.md).

The gateway runs in a thread with its own event loop, because schemathesis
and hypothesis call it synchronously.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lgsp.catalogue.openapi import openapi
from lgsp.catalogue.registry import Registry
from lgsp.config import DEMO_CLIENTS, granted
from lgsp.errors import MalformedRequest, RequestInvalid, error_for
from lgsp.gateway.exchange import validate_payload
from lgsp.server import load_adapters
from lgsp_adapters import warehouse
from lgsp_contracts.spec import ServiceContract, TopicContract
from tests.support.echo import Received, echo_adapter, echo_bus
from tests.support.echo import settings as echo_settings

# The product's catalogue: what a deployment publishes (the test
# catalogue's misbehaving echo service fails on purpose).
CATALOGUE = Registry.from_entry_points()
SERVICES = [c for versions in CATALOGUE.services.values() for c in versions]
# Topics a client may publish through the gateway: an adapter's own (the
# answers VNForm delivers to its receiver) reach the bus through the SDK,
# and no client is granted them.
TOPICS = [
    t
    for versions in CATALOGUE.topics.values()
    for t in versions
    if any(granted(c.grants, t.topic) for c in DEMO_CLIENTS)
]

# The mock systems that serve the catalogue's services. The portal's event
# subscriber (dvcqg) is left out: each accepted fuzz event would start its
# delivery to the national portal, with retries, and thousands of them would
# measure its retry budget rather than the gateway's edge.
PROVIDERS = ("land", "ndxp", "onestop", "warehouse")

# The clients granted every agency service, the warehouse's and the bus's
# own, and one granted two services only.
CLIENTS = {
    "dongthap.onestop": "demo-onestop-secret",
    "dongthap.analyst": "demo-analyst-secret",
    "dongthap.land": "demo-land-secret",
    "dongthap.portal": "demo-portal-secret",
}


def granted_client(name: str) -> str:
    """The demo client granted ``name``: the analyst for the warehouse's
    datasets and the bus's statistics, the citizens' portal for the data
    tracker, the one-stop-shop for the rest."""
    if name.startswith(("warehouse.", "lgsp.")):
        return "dongthap.analyst"
    return "dongthap.portal" if name.startswith("ndop.") else "dongthap.onestop"


_RANDOM = "LGSP_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("LGSP_FUZZ_EXAMPLES", "40"))
REQUEST_TIMEOUT_S = 10.0
"""A request without an answer by then is a hang."""
SHORT_DEADLINE_MS = 5000
"""A caller asking for less than this may legitimately get 504."""
MAX_BODY_BYTES = 64 * 1024
"""The test bus's body limit (tests/support/echo.py)."""


def fuzz_settings(share: float = 1.0) -> settings:
    return settings(
        max_examples=max(1, int(EXAMPLES * share)),
        deadline=None,
        derandomize=not _RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


@dataclass
class LiveBus:
    url: str
    tokens: dict[str, str]
    http: httpx.Client
    schema: Any  # schemathesis' OpenApiSchema of the served /openapi.json


@contextlib.contextmanager
def bus_in_thread() -> Iterator[str]:
    """The suite's bus (tests/support/echo.py) in a thread of its own; yields its URL."""
    started = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        try:
            # The portal's quota (a few calls a second, against walking
            # through ids) would answer most of the fuzz 429: lifted here.
            clients = tuple(
                c.model_copy(update={"rate": None, "burst": None})
                if c.id == "dongthap.portal"
                else c
                for c in echo_settings().clients
            )
            async with echo_bus(
                "memory", adapters=load_adapters(PROVIDERS), settings=echo_settings(clients=clients)
            ) as bus:
                # The warehouse's datasets answer 503 until its first load.
                async with asyncio.timeout(60):
                    await warehouse.ready()
                box["url"] = bus.url
                box["loop"], box["stop"] = asyncio.get_running_loop(), asyncio.Event()
                started.set()
                await box["stop"].wait()
        finally:
            started.set()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(60), "the bus did not start within 60 s"
    assert "url" in box, "the bus failed to start"
    try:
        yield box["url"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveBus]:
    with bus_in_thread() as url, httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as http:
        tokens = {}
        for client, secret in CLIENTS.items():
            r = http.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client,
                    "client_secret": secret,
                },
            )
            assert r.status_code == 200, r.text
            tokens[client] = r.json()["access_token"]
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        yield LiveBus(url, tokens, http, schema)


# -- what every answer must be ------------------------------------------------


def declared_codes(contract: ServiceContract | TopicContract | None) -> dict[str, int]:
    if isinstance(contract, ServiceContract):
        return {e.code: e.status for e in contract.errors}
    return {}


def check_answer(
    status: int,
    content_type: str,
    body: bytes,
    *,
    contract: ServiceContract | TopicContract | None,
    deadline_ms: str | None,
    what: str,
) -> None:
    """The bus's invariants for any answer on ``/v1``."""
    if status >= 500:
        # A 504 is the right answer to a caller who asked for a very short
        # deadline; anything else 5xx is a bug: the gateway's, or a mock
        # system's (502: it answered outside its contract).
        short = deadline_ms is not None and deadline_ms.isdigit()
        short = short and int(deadline_ms or 0) < SHORT_DEADLINE_MS
        assert status == 504, f"{what}: {status} {body[:500]!r}"
        assert short, f"{what}: 504 with no short deadline asked: {body[:500]!r}"
    if status < 400:
        assert content_type == "application/json", f"{what}: {content_type}"
        orjson.loads(body)
        return
    assert content_type == "application/problem+json", f"{what}: {status} {content_type}"
    problem = orjson.loads(body)
    assert problem["status"] == status, f"{what}: {problem}"
    code = problem["code"]
    declared = declared_codes(contract)
    assert error_for(status, code) is not None or declared.get(code) == status, (
        f"{what}: {status} {code} is neither a protocol error nor declared by the contract"
    )
    if code == "contract.request_invalid":
        assert problem["errors"], f"{what}: a 422 names the failing fields: {problem}"


# -- schemathesis against /openapi.json ---------------------------------------

OPERATIONS = [f"POST /v1/services/{name}" for name in CATALOGUE.services] + [
    f"POST /v1/events/{name}" for name in CATALOGUE.topics
]
OPERATIONS += [
    f"GET {route}"
    for route in ("/v1/services", "/v1/services/{service}", "/v1/topics", "/v1/topics/{topic}")
] + ["POST /oauth2/token"]


@pytest.mark.parametrize("label", OPERATIONS)
def test_openapi_operation_never_fails(live: LiveBus, label: str) -> None:
    """Requests generated from the served OpenAPI document, matching it and
    breaking it: documented statuses, problem bodies that match the
    document, no server error, no hang."""
    operation = live.schema.find_operation_by_label(label)
    assert operation is not None, f"/openapi.json lacks {label}"
    name = label.rsplit("/", 1)[1]
    contract: ServiceContract | TopicContract | None = None
    if label.startswith("POST /v1/services/"):
        contract = CATALOGUE.service(name)
    elif label.startswith("POST /v1/events/"):
        contract = CATALOGUE.topic(name)
    modes = [GenerationMode.POSITIVE]
    if label.startswith("POST"):
        modes.append(GenerationMode.NEGATIVE)
    session = requests.Session()
    for mode in modes:
        what = f"{label} ({mode.value}"

        @fuzz_settings(0.5 if label.startswith("GET") else 1.0)
        @given(case=operation.as_strategy(mode), client=st.sampled_from(sorted(CLIENTS)))
        def call(case: Any, client: str) -> None:
            headers = None if label == "POST /oauth2/token" else {}
            if headers is not None:
                headers["Authorization"] = f"Bearer {live.tokens[client]}"
            response = case.call(
                base_url=live.url, session=session, headers=headers, timeout=REQUEST_TIMEOUT_S
            )
            if label.startswith(("POST /v1/", "GET /v1/")):
                check_answer(
                    response.status_code,
                    response.headers.get("content-type", [""])[0].split(";")[0],
                    response.content,
                    contract=contract,
                    deadline_ms=(case.headers or {}).get("X-LGSP-Timeout-Ms"),
                    what=f"{what}, {client})",  # noqa: B023 (called in this iteration)
                )
            else:
                assert response.status_code in (200, 400, 401), response.text
            case.validate_response(
                response,
                checks=[
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )

        call()


# -- hypothesis on every contract ---------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)
ODD_TEXT = st.sampled_from(
    [
        "\x00",
        "\u202eRTL",
        "\ufeffBOM",
        "e\u0301",
        "\U0001d518\U0001d52b",  # mathematical letters outside the BMP
        "Nguyễn Văn An",
        "'; DROP TABLE citizens; --",
        "../../etc/passwd",
        "%s%n",
        "A" * 5000,
    ]
)


@st.composite
def raw_bodies(draw: st.DrawFn, example: dict[str, Any]) -> bytes:
    """Bytes a client might send as a JSON body, most of them wrong."""
    kind = draw(st.integers(0, 9))
    if kind == 0:  # any JSON value
        return orjson.dumps(draw(JSON))
    if kind == 1:  # nesting, around the limit and far past it
        depth = draw(st.sampled_from([31, 32, 33, 64, 1000, 20_000]))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        return opener * depth + b"1" + closer * depth
    if kind == 2:  # numbers JSON allows and machines do not
        number = draw(
            st.sampled_from([b"1" + b"0" * 400, b"-1e999999", b"1e-400", b"123456789012"])
        )
        field = draw(st.sampled_from(sorted(example) or ["x"]))
        return orjson.dumps(example)[:-1] + b',"' + field.encode() + b'":' + number + b"}"
    if kind == 3:  # invalid UTF-8, lone surrogates, NUL
        junk = draw(st.sampled_from([b"\xff\xfe", b'"\\ud800"', b'"\\u0000"', b"\xc3\x28"]))
        field = draw(st.sampled_from(sorted(example) or ["x"]))
        return b'{"' + field.encode() + b'":' + junk + b"}"
    if kind == 4:  # cut short
        whole = orjson.dumps(example)
        return whole[: draw(st.integers(0, max(0, len(whole) - 1)))]
    if kind == 5:  # a field dropped
        if not example:
            return b"{}"
        dropped = draw(st.sampled_from(sorted(example)))
        return orjson.dumps({k: v for k, v in example.items() if k != dropped})
    if kind == 6:  # an unknown field
        return orjson.dumps(example | {draw(st.text(min_size=1)): draw(JSON)})
    if kind == 7:  # a field of the wrong type, or odd text
        if not example:
            return orjson.dumps(draw(JSON))
        field = draw(st.sampled_from(sorted(example)))
        value = draw(JSON | ODD_TEXT)
        return orjson.dumps(example | {field: value})
    if kind == 8:  # duplicate keys, trailing garbage, JSON in a string
        whole = orjson.dumps(example)
        twice = whole[:-1] + b"," + whole[1:] if len(whole) > 2 else whole
        quoted = orjson.dumps(whole.decode())
        return draw(st.sampled_from([twice, whole + b"}", quoted]))
    # over the body limit
    return b'{"x":"' + b"a" * (MAX_BODY_BYTES + 1) + b'"}'


def encode(value: Any) -> bytes:
    """A generated body as a client would send it: numbers of any size (the
    stdlib encoder; orjson stops at 64 bits), and integers as generated:
    JSON Schema counts 2.0 as one, and so does the gateway."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value).encode()


def _example(contract: ServiceContract | TopicContract) -> dict[str, Any]:
    if isinstance(contract, ServiceContract):
        return dict(contract.examples[0].request) if contract.examples else {}
    return dict(contract.examples[0]) if contract.examples else {}


def _target(contract: ServiceContract | TopicContract) -> tuple[str, str]:
    if isinstance(contract, ServiceContract):
        return f"/v1/services/{contract.service}", contract.service
    return f"/v1/events/{contract.topic}", contract.topic


def _contract_schema(live: LiveBus, contract: ServiceContract | TopicContract) -> Any:
    """An OpenAPI document of one operation whose body is exactly this
    version's model, cut from the served document (same components)."""
    model = contract.request if isinstance(contract, ServiceContract) else contract.payload
    path, _ = _target(contract)
    raw = live.schema.raw_schema
    assert model.__name__ in raw["components"]["schemas"], model.__name__
    body = {"$ref": f"#/components/schemas/{model.__name__}"}
    operation = {
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"default": {"description": "anything"}},
    }
    return schemathesis.openapi.from_dict(raw | {"paths": {path: {"post": operation}}})


CONTRACTS: list[ServiceContract | TopicContract] = [*SERVICES, *TOPICS]


def _id(contract: ServiceContract | TopicContract) -> str:
    return f"{_target(contract)[1]}-v{contract.version}"


@pytest.mark.parametrize("contract", CONTRACTS, ids=_id)
def test_contract_payloads(live: LiveBus, contract: ServiceContract | TopicContract) -> None:
    """Per service version and topic: payloads valid by its schema reach the
    provider (success or a declared error); payloads that break the schema
    are refused at the edge with 400 or 422 naming the fields; any other
    bytes get a problem the protocol declares."""
    path, name = _target(contract)
    version = str(contract.version)
    headers = {
        "Authorization": f"Bearer {live.tokens[granted_client(name)]}",
        "Content-Type": "application/json",
        "X-LGSP-Service-Version": version,
    }
    ok = 200 if isinstance(contract, ServiceContract) else 202
    reached = {ok} | set(declared_codes(contract).values())
    operation = _contract_schema(live, contract).find_operation_by_label(f"POST {path}")
    statuses: dict[str, set[int]] = {"valid": set(), "invalid": set(), "raw": set()}

    def post(body: bytes, kind: str) -> tuple[int, bytes]:
        try:
            r = live.http.post(path, content=body, headers=headers)
        except httpx.TimeoutException:
            pytest.fail(
                f"{_id(contract)}: no answer within {REQUEST_TIMEOUT_S} s to {body[:300]!r}"
            )
        check_answer(
            r.status_code,
            r.headers.get("Content-Type", "").split(";")[0],
            r.content,
            contract=contract,
            deadline_ms=None,
            what=f"{_id(contract)} {kind} {body[:300]!r}",
        )
        statuses[kind].add(r.status_code)
        return r.status_code, r.content

    @fuzz_settings()
    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    def valid(case: Any) -> None:
        body = encode(case.body)
        # U+0085 is whitespace to the contracts' regex engine (Rust, Unicode)
        # and not to JSON Schema's (ECMAScript): "\\S" differs on it alone.
        assume(b"\\u0085" not in body)
        status, answer = post(body, "valid")
        assert status in reached, f"valid by the schema: {body[:500]!r}, got {answer[:500]!r}"

    model = contract.request if isinstance(contract, ServiceContract) else contract.payload

    @fuzz_settings()
    @given(case=operation.as_strategy(GenerationMode.NEGATIVE))
    def invalid(case: Any) -> None:
        body = encode(case.body)
        status, answer = post(body, "invalid")
        if status not in (400, 422):
            # The gateway enforces the contract, which is at times more
            # lenient than its JSON Schema says (pydantic reads "0" as a
            # date-time: a Unix time). Only what the contract itself
            # accepts (an integral 2.0 read as 2) may pass.
            try:
                validate_payload(model, body)
            except (MalformedRequest, RequestInvalid):
                pytest.fail(f"the contract refuses {body[:500]!r}, yet it got {answer[:500]!r}")

    @fuzz_settings()
    @given(body=raw_bodies(_example(contract)))
    def raw(body: bytes) -> None:
        status, _ = post(body, "raw")
        assert status in reached | {400, 413, 422}

    started = time.monotonic()
    valid()
    invalid()
    raw()
    # The fuzzers reached both sides of the edge, or they tried nothing.
    assert statuses["valid"] & reached, statuses
    assert statuses["invalid"], statuses
    assert statuses["raw"] & {400, 422}, statuses
    assert time.monotonic() - started < 120, "fuzzing one contract took over two minutes"


# -- every check of schemathesis, as a user runs it ----------------------------

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EVERY_CHECK_EXAMPLES = 10
"""Fuzzing examples per operation of the run with every check; its coverage
phase (every boundary and violation the document defines, some 3,000
requests) runs in full whatever the number."""

# Who runs it: the one-stop-shop, as docs/testing-bad-input.md has a
# newcomer do, over the whole document; the analyst over the services only
# it is granted (the warehouse's and the bus's own), whose domain 422s the
# configuration accepts.
EVERY_CHECK_RUNS = {
    "dongthap.onestop": [],
    "dongthap.analyst": ["--include-name-regex", r"^POST /v1/services/(warehouse|lgsp)\."],
}


def _exchanges(report: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(case, interaction) of every request a schemathesis NDJSON report holds."""
    with report.open() as lines:
        for line in lines:
            event = orjson.loads(line)
            recorder = event.get("ScenarioFinished", {}).get("recorder", {})
            for case_id, interaction in recorder.get("interactions", {}).items():
                yield recorder["cases"][case_id]["value"], interaction


def _body(message: dict[str, Any]) -> bytes:
    content = message.get("content") or {}
    if "$base64" in content:
        return base64.b64decode(content["$base64"])
    return str(content.get("string", "")).encode()


@pytest.mark.parametrize("client", sorted(EVERY_CHECK_RUNS))
def test_schemathesis_every_check(live: LiveBus, client: str, tmp_path: Path) -> None:
    """``schemathesis run /openapi.json --checks all`` as a user runs it from
    this repository (so with its schemathesis.toml): every phase, every
    check, not one failure. Derandomized, so a failure replays.

    What the configuration lets pass is then held to what it stands for: a
    504 only for a caller who asked for a short deadline, and a 422 on a
    request the document calls valid only with a domain code its contract
    declares, never contract.request_invalid."""
    report = tmp_path / "run.ndjson"
    command = [
        str(SCHEMATHESIS),
        "--no-color",
        "run",
        f"{live.url}/openapi.json",
        "--checks",
        "all",
        "-H",
        f"Authorization: Bearer {live.tokens[client]}",
        "--max-examples",
        str(EVERY_CHECK_EXAMPLES),
        "--seed",
        "1",
        "--generation-deterministic",
        "--request-timeout",
        str(REQUEST_TIMEOUT_S),
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        *EVERY_CHECK_RUNS[client],
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{done.stdout[-20_000:]}\n{done.stderr[-2_000:]}"
    statuses: set[int] = set()
    for case, interaction in _exchanges(report):
        response = interaction["response"]
        if response is None:
            continue  # no answer: schemathesis has failed it already
        status = response["status_code"]
        statuses.add(status)
        what = f"{case['method']} {case['path']} {case.get('headers')} {case.get('body')!r:.300}"
        if status == 504:
            headers = {k.lower(): v for k, v in (case.get("headers") or {}).items()}
            asked = str(headers.get("x-lgsp-timeout-ms", ""))
            assert asked.isdigit(), f"504 with no deadline asked: {what}"
            assert int(asked) < SHORT_DEADLINE_MS, f"504 with no short deadline asked: {what}"
        if status == 422 and case["meta"]["generation"]["mode"] == "positive":
            code = orjson.loads(_body(response))["code"]
            assert code != "contract.request_invalid", f"valid by the document: {what}"
    # The run reached the providers, or it tried nothing.
    assert 200 in statuses, statuses


def test_schemathesis_configuration_follows_the_contracts() -> None:
    """schemathesis.toml accepts a 422 on schema-valid requests exactly for
    the operations whose contracts declare a 422 domain error; other
    declared statuses (404, 409) the check accepts by default."""
    config = tomllib.loads((ROOT / "schemathesis.toml").read_text())
    blocks = config["operations"]
    declaring = sorted(
        f"POST /v1/services/{name}"
        for name, versions in CATALOGUE.services.items()
        if any(e.status == 422 for c in versions for e in c.errors)
    )
    accepting = [
        b
        for b in blocks
        if "422"
        in b.get("checks", {}).get("positive_data_acceptance", {}).get("expected-statuses", [])
    ]
    assert [sorted(b["include-name"]) for b in accepting] == [declaring]
    others = next(b for b in blocks if "include-name-regex" in b)
    assert sorted(others["exclude-name"]) == declaring
    defaults = {"401", "403", "404", "409", "429"}
    declared = {str(e.status) for c in SERVICES for e in c.errors}
    assert declared <= defaults | {"422"}, declared


# -- what the edge reads --------------------------------------------------------


async def test_integer_headers_are_ascii_digits() -> None:
    """X-LGSP-Timeout-Ms and X-LGSP-Service-Version hold a positive integer
    in ASCII digits, at most 18 (the document's pattern): other scripts'
    digits, superscripts (which ``int`` refuses and ``str.isdigit`` does
    not), zero and 19 digits are 400, never a 500; leading zeros are read.
    The document's pattern says the same."""
    document = openapi(CATALOGUE)["paths"]["/v1/services/land.parcel.lookup"]["post"]
    schemas = {p["name"]: p["schema"] for p in document["parameters"]}
    refused = ("\u00b2", "\u0663", "\uff11", "0", "-1", "1.0", "1" * 19)
    for name in ("X-LGSP-Timeout-Ms", "X-LGSP-Service-Version"):
        valid = Draft202012Validator(schemas[name]).is_valid
        assert not any(valid(value) for value in refused), name
        assert valid("0" * 17 + "1"), name
    # The echo provider alone: the installed mock systems are the live bus's.
    async with echo_bus("memory", adapters=[echo_adapter(Received())]) as bus:
        for name in ("X-LGSP-Timeout-Ms", "X-LGSP-Service-Version"):
            for value in refused:
                r = await bus.send("test.echo.call", {"text": "a"}, headers={name: value})
                assert r.status == 400, f"{name}: {value!r}: {await r.text()}"
                problem = await r.json(content_type=None)
                assert problem["code"] == "request.malformed", problem
            r = await bus.send("test.echo.call", {"text": "a"}, headers={name: "0" * 17 + "1"})
            assert r.status == 200, f"{name}: {await r.text()}"


async def test_integral_numbers_are_integers() -> None:
    """An integer field takes a number with a zero fractional part (JSON
    Schema's integer, what a client serialising a decimal sends), read as
    the integer: providers, subscribers, the Idempotency-Key and the event's
    id see the body with the integer. A fraction, a string or a boolean is 422."""
    received = Received()
    async with echo_bus("memory", adapters=[echo_adapter(received)]) as bus:
        r = await bus.send("test.echo.call", {"text": "a", "delay_ms": 0.0})
        assert r.status == 200, await r.text()
        for wrong in (0.5, "0", True):
            r = await bus.send("test.echo.call", {"text": "a", "delay_ms": wrong})
            assert r.status == 422, f"{wrong!r}: {await r.text()}"
            assert (await r.json(content_type=None))["errors"][0]["loc"] == ["delay_ms"]
        token = await bus.token()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "X-LGSP-Service-Version": "1",  # the version that counts its calls
        }
        # What is passed on, and keyed, is the body with the integer: the
        # same bytes as a client writing the integer sends.
        outcomes = []
        for path, key, bodies in (
            (
                "/v1/services/test.echo.call",
                "integral-1",
                (b'{"text":"a","delay_ms":1e1}', b'{"text":"a","delay_ms":10}'),
            ),
            ("/v1/events/test.ping.sent", "integral-2", (b'{"n":3.0}', b'{"n":3}')),
        ):
            for body in bodies:
                r = await bus.http.post(path, data=body, headers=headers | {"Idempotency-Key": key})
                assert r.status in (200, 202), f"{body!r}: {await r.text()}"
                outcomes.append((r.headers.get("Idempotent-Replayed"), await r.read()))
        assert [replayed for replayed, _ in outcomes] == [None, "true", None, "true"]
        assert outcomes[2][1] == outcomes[3][1]  # one event id
        assert received.calls == 1
        await received.wait_for(1)
        assert type(received.events[0].n) is int


# -- the limits on costly bodies ----------------------------------------------

LOOKUP = CATALOGUE.service("population.citizen.lookup").examples[0]


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_json_nesting_limit() -> None:
    """Up to max_json_depth levels reach the contract check (422 here: the
    field is no list); one more is refused before it (400); brackets inside
    strings do not count, and a very deep body is refused as cheaply."""
    async with echo_bus("memory", adapters=[], max_json_depth=8) as bus:
        client = "dongthap.onestop"
        at_limit = await bus.send("population.citizen.lookup", {"x": nested(7)}, client=client)
        assert at_limit.status == 422, await at_limit.text()
        over = await bus.send("population.citizen.lookup", {"x": nested(8)}, client=client)
        assert over.status == 400
        problem = await over.json()
        assert problem["code"] == "request.malformed"
        assert "8 levels" in problem["detail"]
        in_text = await bus.send(
            "population.citizen.lookup", LOOKUP.request | {"hoVaTen": "[{" * 50}, client=client
        )
        # Past the edge and the contract: no provider on this bus.
        assert in_text.status == 503, await in_text.text()
        headers = {
            "Authorization": f"Bearer {await bus.token(client)}",
            "Content-Type": "application/json",
        }
        deep = b"[" * 30_000 + b"]" * 30_000  # within the 64 KiB body limit
        for path in (
            "/v1/services/population.citizen.lookup",
            "/v1/events/onestop.dossier.status-changed",
        ):
            r = await bus.http.post(path, data=deep, headers=headers)
            assert r.status == 400, f"{path}: {await r.text()}"
            assert (await r.json())["code"] == "request.malformed"


async def _raw_exchange(url: Any, head: bytes, parts: list[bytes], pause: float) -> bytes:
    """Send ``head``, then ``parts`` ``pause`` s apart (as a slow client
    would) until the server answers; return its answer, within 10 s."""
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        async with asyncio.timeout(10):
            answer = asyncio.create_task(reader.read(65536))
            writer.write(head)
            await writer.drain()
            for part in parts:
                await asyncio.sleep(pause)  # the client's own slowness, under test
                if answer.done():
                    break
                writer.write(part)
                await writer.drain()
            return await answer
    finally:
        writer.close()


async def test_stalled_or_trickled_body_is_cut_off() -> None:
    """A client that sends its headers and then stalls, or trickles its body
    byte by byte, gets 408 request.timeout once body_read_timeout_ms is up;
    a body sent at once is not affected."""
    async with echo_bus("memory", adapters=[], body_read_timeout_ms=300) as bus:
        token = await bus.token("dongthap.onestop")
        body = orjson.dumps(LOOKUP.request)
        url = bus.http.make_url("")
        head = (
            b"POST /v1/services/population.citizen.lookup HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        for name, parts, pause in (
            ("stalled", [], 0.0),
            ("trickled", [bytes([b]) for b in body], 0.05),
        ):
            started = time.monotonic()
            first = body[: len(body) // 2] if name == "stalled" else b""
            answer = await _raw_exchange(url, head + first, parts, pause)
            elapsed = time.monotonic() - started
            status_line, _, rest = answer.partition(b"\r\n")
            assert status_line.startswith(b"HTTP/1.1 408"), f"{name}: {answer[:300]!r}"
            problem = orjson.loads(rest.split(b"\r\n\r\n", 1)[1])
            assert problem["code"] == "request.timeout", name
            assert 0.3 <= elapsed < 5, f"{name}: cut off after {elapsed:.2f} s"
        # A whole body in time goes on to the provider (none here: 503).
        r = await bus.send("population.citizen.lookup", LOOKUP.request, client="dongthap.onestop")
        assert r.status == 503, await r.text()
