"""The envelope: everything the bus knows about one exchange, parsed once.

The gateway builds an :class:`Envelope` at the edge; transports carry it to a
provider unchanged (in memory as the object itself, over AMQP as message
properties and headers); the provider answers with a :class:`Reply`. No
layer re-derives these values from HTTP headers. A reply is encoded by its
constructors and decoded by :meth:`Reply.decode`, here and nowhere else.
"""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from pydantic import ValidationError

from lgsp.errors import (
    DomainError,
    LgspError,
    ResponseInvalid,
    ServiceTimeout,
    ServiceUnavailable,
    TransientError,
)
from lgsp_contracts.spec import Contract, ServiceContract

log = structlog.get_logger("lgsp.envelope")

# Names of the envelope fields when they travel as message headers.
H_CLIENT = "lgsp-client"
H_SERVICE = "lgsp-service"
H_VERSION = "lgsp-version"
H_DEADLINE = "lgsp-deadline"
H_IDEMPOTENCY = "lgsp-idempotency-key"
H_STATUS = "lgsp-status"
H_TOPIC = "lgsp-topic"
H_PUBLISHED = "lgsp-published"


# What the gateway accepts from the headers that fill an envelope, and what
# its OpenAPI document says of them.
MAX_IDEMPOTENCY_KEY = 255
"""The longest Idempotency-Key, in characters (at least 1)."""
MAX_HEADER_DIGITS = 18
"""The most digits of a positive integer in a header (X-LGSP-Timeout-Ms,
X-LGSP-Service-Version): any int64 fits."""


def new_id() -> str:
    """A random 128-bit id as 32 hex digits. Ids name exchanges and events;
    they are not secrets, so a fast PRNG (seeded from the OS) serves, not a
    system call per request."""
    while True:
        new = f"{_ids.getrandbits(128):032x}"
        # Logs mask any run of 12 digits (it could be a personal id): about
        # one id in 33 would hold such a run, be logged garbled and never be
        # found in the logs. Drawing again is cheap.
        if not _TWELVE_DIGITS.search(new):
            return new


_TWELVE_DIGITS = re.compile(r"\d{12}")


_ids = random.Random(os.urandom(32))
# A forked child must not repeat its parent's ids.
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))


@dataclass(slots=True)
class Envelope:
    """One synchronous exchange on its way to a provider."""

    request_id: str
    client: str
    service: str
    version: int
    deadline: float
    """Absolute wall-clock time (epoch seconds) after which nobody waits."""
    body: bytes
    """The request payload as the client sent it, already validated."""
    payload: Contract | None = None
    """The validated payload, when the provider runs in the same process."""
    idempotency_key: str | None = None

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.time())

    def headers(self) -> dict[str, str]:
        h = {
            H_CLIENT: self.client,
            H_SERVICE: self.service,
            H_VERSION: str(self.version),
            H_DEADLINE: f"{self.deadline:.3f}",
        }
        if self.idempotency_key is not None:
            h[H_IDEMPOTENCY] = self.idempotency_key
        return h

    @classmethod
    def from_headers(cls, request_id: str, headers: dict[str, str], body: bytes) -> Envelope:
        return cls(
            request_id=request_id,
            client=headers[H_CLIENT],
            service=headers[H_SERVICE],
            version=int(headers[H_VERSION]),
            deadline=float(headers[H_DEADLINE]),
            body=body,
            idempotency_key=headers.get(H_IDEMPOTENCY),
        )


@dataclass(slots=True, frozen=True)
class Reply:
    """A provider's answer: 200 with the response payload, a declared domain
    error status with ``{"code", "detail"}``, 503/504 when what the provider
    depends on is unavailable (``{"code", "detail", "retry_after"}``), or 500
    when the provider failed.

    Made by :meth:`declared`, :meth:`error` and :meth:`failed` (or directly,
    for a 200); read back by :meth:`decode` wherever it arrives."""

    status: int
    body: bytes

    @classmethod
    def declared(cls, status: int, code: str, detail: str) -> Reply:
        """A domain error the contract declares with this status."""
        return cls(status, orjson.dumps({"code": code, "detail": detail}))

    @classmethod
    def error(cls, error: LgspError) -> Reply:
        answer: dict[str, object] = {"code": error.code, "detail": error.detail}
        if "Retry-After" in error.headers:
            answer["retry_after"] = int(error.headers["Retry-After"])
        return cls(error.status, orjson.dumps(answer))

    @classmethod
    def failed(cls, detail: str, *, code: str = "provider.failed") -> Reply:
        """The provider failed (or answered an undeclared error): a 500 the
        gateway turns into a 502, never passed on."""
        return cls(500, orjson.dumps({"code": code, "detail": detail}))

    def answer(self) -> dict[str, Any]:
        """The decoded error answer (empty when it is not a JSON object)."""
        try:
            answer = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return {}
        return answer if isinstance(answer, dict) else {}

    def transient(self) -> TransientError | None:
        """The bus error a 503/504 reply stands for, if it is one: it is
        raised again where the reply arrives, never taken as an outcome."""
        if self.status not in (503, 504):
            return None
        answer = self.answer()
        detail = str(answer.get("detail") or "")
        if answer.get("code") == ServiceUnavailable.code:
            retry_after = answer.get("retry_after")
            return ServiceUnavailable(
                detail, retry_after=retry_after if isinstance(retry_after, int) else 1
            )
        if answer.get("code") == ServiceTimeout.code:
            return ServiceTimeout(detail)
        return None

    def decode(self, contract: ServiceContract, request_id: str) -> Contract:
        """The validated response of a 200; any other reply is raised as what
        it stands for: a :class:`~lgsp.errors.TransientError` (503/504), the
        :class:`~lgsp.errors.DomainError` the contract declares for its code
        and status, or :class:`~lgsp.errors.ResponseInvalid` for anything else
        (an invalid response, a failure, an undeclared error: a provider's bug
        never reaches a client)."""
        if self.status == 200:
            try:
                return contract.response.model_validate_json(self.body)
            except ValidationError as exc:
                log.error(
                    "provider.response_invalid",
                    request_id=request_id,
                    service=contract.service,
                    errors=exc.errors(include_url=False, include_input=False),
                )
                raise ResponseInvalid(f"{contract.service} answered outside its contract") from None
        if (transient := self.transient()) is not None:
            raise transient
        answer = self.answer()
        spec = contract.error(str(answer.get("code")))
        if spec is None or spec.status != self.status:
            log.error(
                "provider.undeclared_error",
                request_id=request_id,
                service=contract.service,
                status=self.status,
            )
            raise ResponseInvalid(f"{contract.service} failed or answered an undeclared error")
        raise DomainError(
            spec.code, str(answer.get("detail") or ""), status=spec.status, title=spec.title
        )


@dataclass(slots=True)
class Event:
    """One accepted event on its way to every subscriber of its topic."""

    topic: str
    version: int
    client: str
    request_id: str
    body: bytes
    event_id: str = field(default_factory=new_id)
    published: float = field(default_factory=time.time)
    payload: Contract | None = None

    def headers(self) -> dict[str, str]:
        return {
            H_CLIENT: self.client,
            H_TOPIC: self.topic,
            H_VERSION: str(self.version),
            H_PUBLISHED: f"{self.published:.6f}",
        }

    @classmethod
    def from_headers(
        cls, event_id: str, request_id: str, headers: dict[str, str], body: bytes
    ) -> Event:
        return cls(
            topic=headers[H_TOPIC],
            version=int(headers[H_VERSION]),
            client=headers[H_CLIENT],
            request_id=request_id,
            body=body,
            event_id=event_id,
            published=float(headers[H_PUBLISHED]),
        )
