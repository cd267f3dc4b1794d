"""The exchange routes: synchronous service calls and event publishing.

The per-request path is the product's speed: everything is parsed once
(the envelope), looked up in precomputed tables, and validated by pydantic's
compiled validators straight from the request bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from itertools import accumulate
from typing import Any, TypeVar

import orjson
import structlog
from aiohttp import web
from pydantic import ValidationError

from lgsp.catalogue.registry import Registry
from lgsp.config import Settings
from lgsp.envelope import MAX_HEADER_DIGITS, MAX_IDEMPOTENCY_KEY, Envelope, Event, new_id
from lgsp.errors import (
    DomainError,
    LgspError,
    MalformedRequest,
    RequestInvalid,
    RequestTimeout,
    RequestTooLarge,
    ResponseInvalid,
    UnsupportedMediaType,
)
from lgsp.gateway.idempotency import IdempotencyStore, Outcome
from lgsp.gateway.network import Crossing
from lgsp.gateway.oauth import peer_certificate
from lgsp.gateway.responses import PROBLEM_JSON, REQUEST_ID, reply_headers
from lgsp.observe.metrics import EVENTS_PUBLISHED, IN_FLIGHT
from lgsp.observe.record import ExchangeRecord, Recorder
from lgsp.transport.base import Transport
from lgsp.trust.access import Principal, Security
from lgsp.trust.quotas import RateLimiter
from lgsp.trust.workers import worker_count
from lgsp_contracts.spec import Contract, ServiceContract, TopicContract

log = structlog.get_logger("lgsp.gateway")

_ORIGIN_CLIENT = "X-LGSP-Origin-Client"
M = TypeVar("M", bound=Contract)
_Forward = Callable[[], Awaitable[Outcome]]


class Exchange:
    """Handlers of ``POST /v1/services/{service}`` and ``POST /v1/events/{topic}``."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        transport: Transport,
        security: Security,
        recorders: Sequence[Recorder] = (),
        crossing: Crossing | None = None,
    ) -> None:
        self.settings = settings
        self.crossing = crossing or Crossing(settings, None)
        self.recorders = tuple(recorders)
        self.registry = registry
        self.transport = transport
        self.security = security
        # Providers are held to the contracts this gateway publishes.
        transport.expect_contracts(registry.fingerprints)
        self._reply_headers = reply_headers(registry)
        # Each gateway (and each of its workers) counts its share of a quota.
        self.limiter = RateLimiter(security.quota, share=settings.gateways * worker_count())
        # In this process, the workers' data folder, or the bus's PostgreSQL store.
        self.idempotency = IdempotencyStore.open(settings)

    async def call_service(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        record = ExchangeRecord("service", request[REQUEST_ID], time.time())
        IN_FLIGHT.inc()
        try:
            return await self._answer(record, self._serve(request, record))
        finally:
            IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            # Measured on the monotonic clock, told on the wall clock.
            record.answered = record.received + elapsed
            log.info(
                "exchange.completed",
                request_id=record.request_id,
                client=record.client,
                service=record.name,
                version=record.version,
                status=record.status,
                code=record.code,
                duration_ms=round(elapsed * 1000, 2),
            )
            self._finished(record)

    async def publish_event(self, request: web.Request) -> web.StreamResponse:
        record = ExchangeRecord("event", request[REQUEST_ID], time.time())
        try:
            return await self._answer(record, self._publish(request, record))
        finally:
            record.answered = time.time()
            self._finished(record)

    async def _serve(self, request: web.Request, record: ExchangeRecord) -> Outcome:
        principal = self._authenticate(request, record)
        client = principal.client
        contract = self.registry.service(request.match_info["service"], self._version(request))
        record.name, record.version = contract.service, contract.version
        headers = request.headers
        if "X-LGSP-Province" in headers or "X-LGSP-Origin" in headers or _ORIGIN_CLIENT in headers:
            self.crossing.address(request, record)
        if record.origin is not None:
            # Forwarded by NDXP: the origin province's grants here decide.
            self.crossing.authorize_partner(record.origin, contract.service)
            self.limiter.check(record.client)
            record.request = await self._body(request)
            body = record.request
        elif record.target is not None:
            self.security.authorize(client, f"{contract.service}@{record.target}", principal.scope)
            self.limiter.check(client)
            body = record.request = await self._body(request)
        else:
            body = await self._admit(request, record, principal)
        deadline = time.time() + self._timeout(request)
        payload, body = validate_payload(contract.request, body)
        key = self._idempotency_key(request)
        envelope = Envelope(
            request_id=record.request_id,
            client=client,
            service=contract.service,
            version=contract.version,
            deadline=deadline,
            body=body,
            payload=payload,
            idempotency_key=key,
        )

        async def forward() -> Outcome:
            record.sent = time.time()
            if record.target is not None:
                headers = self._reply_headers[(contract.service, contract.version)]
                return await self.crossing.call(contract, envelope, record.target, headers)
            return await self._forward(contract, envelope)

        target = (contract.service, contract.version, body)
        # NDXP relays every province's calls as one client: a key is scoped
        # to the province (and client) that made the call, not to NDXP.
        scope = (
            client if record.origin is None else f"{client}/{record.origin}/{record.origin_client}"
        )
        return await self._once(scope, envelope.idempotency_key, target, forward, envelope.deadline)

    async def _publish(self, request: web.Request, record: ExchangeRecord) -> Outcome:
        principal = self._authenticate(request, record)
        client = principal.client
        contract = self.registry.topic(request.match_info["topic"], self._version(request))
        record.name, record.version = contract.topic, contract.version
        body = await self._admit(request, record, principal)
        key = self._idempotency_key(request)
        payload, body = validate_payload(contract.payload, body)
        event = Event(
            topic=contract.topic,
            version=contract.version,
            client=client,
            request_id=record.request_id,
            body=body,
            event_id=new_id() if key is None else _event_id(client, key, contract, body),
            payload=payload,
        )

        async def accept() -> Outcome:
            record.sent = time.time()
            await self.transport.publish(event)
            record.event_id = event.event_id
            EVENTS_PUBLISHED.labels(event.topic).inc()
            log.info(
                "event.accepted",
                request_id=record.request_id,
                client=client,
                topic=event.topic,
                version=event.version,
                event_id=event.event_id,
            )
            answer = {"event_id": event.event_id, "request_id": record.request_id}
            return Outcome(202, orjson.dumps(answer))

        target = (contract.topic, contract.version, body)
        deadline = time.time() + self.settings.default_timeout_ms / 1000
        return await self._once(client, key, target, accept, deadline)

    def _authenticate(self, request: web.Request, record: ExchangeRecord) -> Principal:
        principal = self.security.verify(
            request.headers.get("Authorization"), peer_certificate(request)
        )
        record.client = principal.client
        return principal

    async def _admit(
        self, request: web.Request, record: ExchangeRecord, principal: Principal
    ) -> bytes:
        """Grant (and the token's scope), quota, then the body: what every
        exchange passes before its payload is read against the contract."""
        self.security.authorize(record.client, record.name, principal.scope)
        self.limiter.check(record.client)
        record.request = await self._body(request)
        return record.request

    async def _answer(self, record: ExchangeRecord, outcome: Awaitable[Outcome]) -> web.Response:
        """Await the exchange and note on its record how it ended, error or not."""
        try:
            done = await outcome
        except LgspError as exc:
            record.status, record.code = exc.status, exc.code
            record.response = orjson.dumps(exc.problem(record.request_id, self.settings.province))
            raise
        except asyncio.CancelledError:
            record.status = 499  # the client went away; nginx's convention
            raise
        record.status, record.code, record.response = done.status, done.code or None, done.body
        return _respond(done, record.request_id)

    def _finished(self, record: ExchangeRecord) -> None:
        # Metrics, live statistics and the exchange log all take it from here.
        for recorder in self.recorders:
            recorder.record(record)

    # -- the steps -------------------------------------------------------

    async def _forward(self, contract: ServiceContract, envelope: Envelope) -> Outcome:
        """Send the envelope to a provider and check its answer against the
        contract: a provider's bug never reaches a client. A transient
        failure (503/504) is raised, so that no outcome is kept for a retry."""
        reply = await self.transport.request(envelope)
        # Precomputed per version: the version, and deprecation once deprecated.
        headers = self._reply_headers[(contract.service, contract.version)]
        try:
            # Validated, then passed on as the provider's bytes: the schema
            # and strictness guarantee the shape, so no re-encoding.
            reply.decode(contract, envelope.request_id)
        except (DomainError, ResponseInvalid) as refused:
            return _problem(refused, envelope.request_id, headers, self.settings.province)
        return Outcome(200, reply.body, headers)

    async def _once(
        self,
        client: str,
        key: str | None,
        request: tuple[str, int, bytes],
        run: _Forward,
        deadline: float,
    ) -> Outcome:
        """Run the exchange, or replay its first outcome for a retried
        Idempotency-Key (services and events alike). ``request`` (target,
        version, body) is hashed only when there is a key."""
        if key is None:
            return await run()
        # The deadline bounds both the wait for the same key's call in flight
        # on another gateway (504) and how long this call holds the key.
        earlier = await self.idempotency.claim(
            client, key, IdempotencyStore.fingerprint(*request), deadline=deadline
        )
        if earlier is not None:
            # The first outcome verbatim (its problem body keeps the first
            # call's request id), marked as a replay as Stripe's API does.
            return replace(earlier, headers=(*earlier.headers, ("Idempotent-Replayed", "true")))
        outcome: Outcome | None = None
        try:
            outcome = await run()
            return outcome
        finally:
            # 503/504 and crashes leave no outcome: a retry tries again.
            self.idempotency.settle(client, key, outcome)

    # -- parsing the edge -------------------------------------------------

    def _version(self, request: web.Request) -> int | None:
        return _positive_int(request, "X-LGSP-Service-Version")

    def _timeout(self, request: web.Request) -> float:
        asked = _positive_int(request, "X-LGSP-Timeout-Ms")
        if asked is None:
            return self.settings.default_timeout_ms / 1000
        return min(asked, self.settings.max_timeout_ms) / 1000

    def _idempotency_key(self, request: web.Request) -> str | None:
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            raise MalformedRequest(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters")
        return key

    async def _body(self, request: web.Request) -> bytes:
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise RequestTooLarge(f"body is {request.content_length} bytes; the limit is {limit}")
        if request.content_type != "application/json":
            raise UnsupportedMediaType(
                f"Content-Type must be application/json, not {request.content_type or 'absent'}"
            )
        if request.charset not in (None, "utf-8", "UTF-8"):
            raise UnsupportedMediaType("JSON bodies are UTF-8")
        try:
            if request.content.is_eof():
                # Usually the whole body came with the headers: nothing to wait for.
                body = await request.read()
            else:
                # A stalled or trickled upload would hold a connection and a
                # buffer for as long as the client likes.
                async with asyncio.timeout(self.settings.body_read_timeout_ms / 1000):
                    body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise RequestTooLarge(f"body exceeds the limit of {limit} bytes") from None
        except TimeoutError:
            raise RequestTimeout(
                f"the body did not arrive within {self.settings.body_read_timeout_ms} ms"
            ) from None
        _check_depth(body, self.settings.max_json_depth)
        return body


# A JSON string (escapes included): brackets inside one are not nesting. An
# unterminated one runs to the end of the body, so that no quote is tried
# twice (linear time, whatever the body).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NESTING = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _check_depth(body: bytes, limit: int) -> None:
    """400 when arrays and objects nest deeper than ``limit``: validators
    and providers recurse over what the gateway lets through.

    A body cannot nest deeper than it has opening brackets, so the common
    case is two counts in C; only a body with more than ``limit`` of them
    is scanned (strings removed, then the running depth of its brackets)."""
    if body.count(b"{") + body.count(b"[") <= limit:
        return
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if max(accumulate(map(_NESTING.__getitem__, brackets)), default=0) > limit:
        raise MalformedRequest(f"body nests arrays and objects deeper than {limit} levels")


def _event_id(client: str, key: str, contract: TopicContract, body: bytes) -> str:
    """The id of an event published with an Idempotency-Key: the same for
    every retry of the same event by the same client (its topic, version and
    body), so that one sent again after an ambiguous answer (a 503 while the
    broker went away, a connection lost before the 202) reaches subscribers
    as the event they already have, which their inbox drops. Another event
    under a reused key gets another id."""
    event = IdempotencyStore.fingerprint(contract.topic, contract.version, body)
    return hashlib.sha256(b"%s\0%s\0%s" % (client.encode(), key.encode(), event)).hexdigest()[:32]


def validate_payload(model: type[M], body: bytes) -> tuple[M, bytes]:
    """Parse and validate in one pass (pydantic's Rust JSON parser); tell a
    body that is not a JSON object (400) from one that breaks the contract
    (422). Returns the payload and the body to pass on.

    The contracts are strict, but an integer written as a number with a zero
    fractional part (``12.0``, ``1.2e1``) is an integer to JSON Schema, which
    the published documents speak, and is what a client serialising a
    decimal sends: such a value in an integer field is read as the integer,
    and the body passed on is re-encoded with it, so providers and
    subscribers (strict too) read what was accepted. Only a refused body
    pays for this: an accepted one is passed on as the client's bytes."""
    try:
        return model.model_validate_json(body), body
    except ValidationError as exc:
        refused = exc
    integral = _integral_floats(refused)
    if integral:
        whole = _with_integers(body, integral)
        if whole is not None:
            try:
                return model.model_validate_json(whole), whole
            except ValidationError as exc:
                refused = exc
    errors = refused.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        raise MalformedRequest(f"body is not valid JSON: {first['msg']}") from None
    if first["type"] == "model_type" and not first["loc"]:
        raise MalformedRequest("body must be a JSON object") from None
    raise RequestInvalid(
        f"{len(errors)} field(s) do not match the contract",
        errors=[{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors],
    ) from None


def _integral_floats(refused: ValidationError) -> list[tuple[int | str, ...]]:
    """Where an integer field was refused for a number with a zero fractional part."""
    return [
        e["loc"]
        for e in refused.errors(include_url=False, include_context=False)
        if e["type"] == "int_type" and isinstance(e["input"], float) and e["input"].is_integer()
    ]


def _with_integers(body: bytes, locations: list[tuple[int | str, ...]]) -> bytes | None:
    """The body with the integral numbers at ``locations`` written as
    integers, or None if it cannot be re-read. A location may end in the
    member of a union (``("n", "int")``): the number is the last value reached."""
    try:
        # The standard library's parser: integers of any size, as pydantic reads them.
        data = json.loads(body)
    except ValueError:
        return None
    for loc in locations:
        parent: Any = None
        key: int | str = ""
        node: Any = data
        for part in loc:
            in_object = isinstance(node, dict) and isinstance(part, str) and part in node
            in_array = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if not (in_object or in_array):
                break
            parent, key, node = node, part, node[part]
        if parent is not None and isinstance(node, float) and node.is_integer():
            parent[key] = int(node)
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        # Integers past 64 bits, or a lone surrogate escaped in a string.
        return json.dumps(data).encode()


_POSITIVE_INT = re.compile(r"0*[1-9][0-9]*")


def _positive_int(request: web.Request, name: str) -> int | None:
    """A header holding a positive integer: ASCII digits only (``int`` reads
    other scripts' digits, and refuses superscripts that ``str.isdigit``
    calls digits), at most :data:`lgsp.envelope.MAX_HEADER_DIGITS` of them; else 400."""
    raw = request.headers.get(name)
    if raw is None:
        return None
    if len(raw) > MAX_HEADER_DIGITS or not _POSITIVE_INT.fullmatch(raw):
        raise MalformedRequest(
            f"{name} must be a positive integer of at most {MAX_HEADER_DIGITS} digits"
        )
    return int(raw)


def _problem(
    error: LgspError, request_id: str, headers: tuple[tuple[str, str], ...], raised_by: str
) -> Outcome:
    return Outcome(
        error.status, orjson.dumps(error.problem(request_id, raised_by)), headers, error.code
    )


def _respond(outcome: Outcome, request_id: str) -> web.Response:
    response = web.Response(
        status=outcome.status,
        body=outcome.body,
        content_type="application/json" if outcome.status < 400 else PROBLEM_JSON,
    )
    for name, value in outcome.headers:
        response.headers[name] = value
    return response
