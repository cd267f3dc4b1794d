"""The gateway's side of the network: calls to other provinces' services,
sent through NDXP, and calls NDXP forwards here from other provinces.

Addressing (docs/protocol.md, "Other provinces"): a client names the
province it calls in ``X-LGSP-Province``; its grant is ``<service>@<province>``
(or ``@*``). This LGSP checks the request against the national contract,
sends it to NDXP with its own credentials there, and checks the answer
again: both sides decide, and a problem names the node that raised it
(``raised_by``). A call NDXP forwards here carries ``X-LGSP-Origin`` (set by
NDXP from the calling LGSP's credentials; only a relay client may send it)
and is authorized by that province's partner grants.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
import orjson
import structlog
from aiohttp import web

from lgsp.config import Settings, granted
from lgsp.envelope import Envelope, Reply
from lgsp.errors import (
    DomainError,
    Forbidden,
    LgspError,
    LoopRefused,
    MalformedRequest,
    ResponseInvalid,
    ServiceTimeout,
    ServiceUnavailable,
    UnknownService,
)
from lgsp.gateway.idempotency import Outcome
from lgsp.hub import Hub, HubRefused
from lgsp.observe.record import ExchangeRecord
from lgsp_contracts.spec import ServiceContract

log = structlog.get_logger("lgsp.gateway.network")

NDXP = "ndxp"
"""How problems NDXP itself raised name it."""
_PROVINCE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_CLIENT = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_PASSED_BACK = ("Retry-After", "X-LGSP-Service-Version", "Deprecation", "Sunset", "Link")
_PROBLEM_JSON = "application/problem+json"


class Crossing:
    """Where a call crosses into or out of this province."""

    def __init__(self, settings: Settings, hub: Hub | None) -> None:
        self.settings = settings
        self.province = settings.province
        self.hub = hub
        self._relays = frozenset(settings.relays)
        self._partners = {p.province: p.grants for p in settings.partners}

    def address(self, request: web.Request, record: ExchangeRecord) -> None:
        """Read the network headers of a call into its record: the province
        it is for (``target``), or the province NDXP forwarded it from
        (``origin``, with the client that made it there)."""
        headers = request.headers
        origin = headers.get("X-LGSP-Origin")
        target = headers.get("X-LGSP-Province")
        if origin is not None:
            if record.client not in self._relays:
                raise Forbidden(f"{record.client} may not name an origin province: only NDXP does")
            if not _PROVINCE.match(origin):
                raise MalformedRequest("X-LGSP-Origin must name a province")
            if target is not None:
                raise LoopRefused("a call NDXP forwarded here is served here, not sent on")
            if origin == self.province:
                raise LoopRefused(f"a call from {origin} came back to {origin}")
            record.origin = origin
            sent_by = headers.get("X-LGSP-Origin-Client")
            record.origin_client = sent_by if sent_by and _CLIENT.match(sent_by) else None
            return
        if "X-LGSP-Origin-Client" in headers and record.client not in self._relays:
            raise Forbidden(f"{record.client} may not name an origin client: only NDXP does")
        if target is None:
            return
        if not _PROVINCE.match(target):
            raise MalformedRequest("X-LGSP-Province must name a province, e.g. gialai")
        if target == self.province:
            raise LoopRefused(
                f"this is {self.province}'s LGSP: call its services without X-LGSP-Province"
            )
        record.target = target

    def authorize_partner(self, origin: str, service: str) -> None:
        grants = self._partners.get(origin)
        if grants is None or not granted(grants, service):
            raise Forbidden(f"province {origin} is not granted {service} in {self.province}")

    async def call(
        self,
        contract: ServiceContract,
        envelope: Envelope,
        province: str,
        headers: tuple[tuple[str, str], ...],
    ) -> Outcome:
        """Send a validated call to ``province`` through NDXP and check what
        comes back. 503/504 are raised (no idempotent outcome is kept)."""
        if self.hub is None:
            raise ServiceUnavailable(f"{self.province}'s LGSP is not connected to NDXP")
        remaining = envelope.remaining()
        sent = {
            "X-Request-Id": envelope.request_id,
            "X-LGSP-Service-Version": str(contract.version),
            "X-LGSP-Timeout-Ms": str(max(1, int(remaining * 1000))),
            "X-LGSP-Origin-Client": envelope.client,
        }
        if envelope.idempotency_key is not None:
            sent["Idempotency-Key"] = envelope.idempotency_key
        url = self.hub.service_url(province, contract.service)
        try:
            async with asyncio.timeout(remaining):
                answer = await self.hub.post(url, envelope.body, sent)
        except TimeoutError:
            raise ServiceTimeout(
                f"no answer from {province} through NDXP before the deadline"
            ) from None
        except HubRefused as exc:
            log.error("network.credentials_refused", province=self.province, error=str(exc))
            raise ServiceUnavailable(
                f"NDXP refused {self.province}'s credentials", retry_after=30
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("network.ndxp_unreachable", target=province, error=str(exc))
            raise ServiceUnavailable("NDXP cannot be reached", retry_after=5) from None
        passed = (
            tuple((name, answer.headers[name]) for name in _PASSED_BACK if name in answer.headers)
            or headers
        )
        if answer.status == 200:
            try:
                Reply(200, answer.body).decode(contract, envelope.request_id)
            except (DomainError, ResponseInvalid) as refused:
                raise refused.by(self.province) from None
            return Outcome(200, answer.body, passed)
        if answer.headers.get("Content-Type", "").startswith(_PROBLEM_JSON):
            return _their_problem(answer.status, answer.body, passed, province)
        raise _ndxp_refusal(answer.status, answer.body, province)


def _their_problem(
    status: int, body: bytes, headers: tuple[tuple[str, str], ...], province: str
) -> Outcome:
    """A problem another LGSP raised, passed on as it is (it names its
    side); its 503/504 are raised, so no idempotent outcome keeps them."""
    try:
        problem = orjson.loads(body)
    except orjson.JSONDecodeError:
        problem = None
    if not isinstance(problem, dict) or not isinstance(problem.get("code"), str):
        raise ResponseInvalid(f"{province} answered a malformed problem")
    detail = str(problem.get("detail") or "")
    raised_by = str(problem.get("raised_by") or province)
    if status == 503:
        retry = dict(headers).get("Retry-After", "1")
        unavailable = ServiceUnavailable(detail, retry_after=int(retry) if retry.isdigit() else 1)
        raise unavailable.by(raised_by)
    if status == 504:
        raise ServiceTimeout(detail).by(raised_by)
    return Outcome(status, body, headers, problem["code"])


def _ndxp_refusal(status: int, body: bytes, province: str) -> LgspError:
    """NDXP's own answer (its native ``{error_code, message}``) as the
    protocol's problem, raised by ``ndxp``."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    message = str(answer.get("message")) if isinstance(answer, dict) else ""
    error: LgspError
    if status == 404:
        error = UnknownService(message or f"NDXP knows no province {province}")
    elif status == 400:
        error = LoopRefused(message or "NDXP refused the call")
    elif status == 504:
        error = ServiceTimeout(message or f"{province} did not answer NDXP in time")
    elif status in (502, 503):
        error = ServiceUnavailable(message or f"{province} cannot be reached through NDXP")
    elif status in (401, 403):
        error = ServiceUnavailable(f"NDXP refused the call: {message}", retry_after=30)
    else:
        error = ResponseInvalid(f"NDXP answered {status}")
    return error.by(NDXP)
