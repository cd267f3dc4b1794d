"""One exception hierarchy for the whole bus.

Each class carries its HTTP status and problem ``code`` (PROTOCOL.md); code
raises them and a single gateway middleware renders them as RFC 9457
``application/problem+json``. Transports and adapters raise them too, so an
error means the same thing wherever it starts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lgsp.masking import mask_text


class LgspError(Exception):
    """Base of every error the bus answers with."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal.error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str = "",
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.raised_by: str | None = None
        """Which node of the network raised it (a province, ``ndxp``), when
        not the gateway that renders it."""

    def by(self, node: str) -> LgspError:
        """This error, as raised by ``node`` (another province, NDXP)."""
        self.raised_by = node
        return self

    def problem(self, request_id: str, raised_by: str | None = None) -> dict[str, Any]:
        # A detail or a field name may quote what the caller sent (a path, an
        # unknown key): a personal id in it is masked, as in the logs, since
        # problems are also kept in the exchange log.
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": mask_text(self.detail),
            "request_id": request_id,
        }
        if self.raised_by or raised_by:
            # In a network, who answered: this LGSP, NDXP or another province.
            body["raised_by"] = self.raised_by or raised_by
        if self.errors is not None:
            body["errors"] = [
                e | {"loc": [mask_text(x) if isinstance(x, str) else x for x in e["loc"]]}
                if "loc" in e
                else e
                for e in self.errors
            ]
        return body


class MalformedRequest(LgspError):
    status = 400
    code = "request.malformed"
    title = "Malformed request"


class Unauthenticated(LgspError):
    status = 401
    code = "auth.unauthenticated"
    title = "Authentication required"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="lgsp"'})


class AdminUnauthenticated(Unauthenticated):
    """401 on the admin API and the dashboard, with a Basic challenge so a
    browser asks the operator for credentials."""

    def __init__(self, detail: str = "") -> None:
        LgspError.__init__(
            self, detail, headers={"WWW-Authenticate": 'Basic realm="lgsp admin", charset="UTF-8"'}
        )


class Forbidden(LgspError):
    status = 403
    code = "auth.forbidden"
    title = "Client not granted this service"


class LoopRefused(LgspError):
    """A call addressed to this LGSP's own province through NDXP, or a call
    NDXP forwarded here that names yet another province: refused, so that no
    call goes round the network."""

    status = 400
    code = "network.loop"
    title = "Call would loop through the network"


class UnknownService(LgspError):
    status = 404
    code = "service.unknown"
    title = "No such service, version or topic"


class MethodNotAllowed(LgspError):
    status = 405
    code = "request.method_not_allowed"
    title = "Method not allowed"

    def __init__(self, detail: str = "", *, allowed: list[str]) -> None:
        super().__init__(detail, headers={"Allow": ", ".join(allowed)})


class RequestTimeout(LgspError):
    """The client did not send its whole body in time (a slow or stalled
    upload holds a connection and a buffer): it is cut off."""

    status = 408
    code = "request.timeout"
    title = "Request body not received in time"


class RequestTooLarge(LgspError):
    status = 413
    code = "request.too_large"
    title = "Request body too large"


class UnsupportedMediaType(LgspError):
    status = 415
    code = "request.unsupported_media_type"
    title = "Request body must be application/json"


class RequestInvalid(LgspError):
    status = 422
    code = "contract.request_invalid"
    title = "Request does not match contract"


class UnknownClient(LgspError):
    """404 on the admin API: no client with this id."""

    status = 404
    code = "client.unknown"
    title = "No such client"

    def __init__(self, client_id: str) -> None:
        super().__init__(f"no client {client_id!r}")


class ClientExists(LgspError):
    """409 on the admin API: the id is taken."""

    status = 409
    code = "client.exists"
    title = "A client with this id exists"

    def __init__(self, client_id: str) -> None:
        super().__init__(f"client {client_id!r} exists")


class IdempotencyConflict(LgspError):
    """409: the Idempotency-Key was used before with another request (the
    draft standard's "conflict with the key's stored request")."""

    status = 409
    code = "request.idempotency_conflict"
    title = "Idempotency-Key already used with another request"


class RateLimited(LgspError):
    status = 429
    code = "rate.limited"
    title = "Client over its quota"

    def __init__(self, detail: str = "", *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ResponseInvalid(LgspError):
    status = 502
    code = "contract.response_invalid"
    title = "Provider answered outside its contract"


class TransientError(LgspError):
    """An error worth retrying later: nobody could answer now."""


class ServiceUnavailable(TransientError):
    status = 503
    code = "service.unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str = "", *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ServiceTimeout(TransientError):
    status = 504
    code = "service.timeout"
    title = "No answer before the deadline"


class ContractMismatch(LgspError):
    """A provider was built against another contract than the one the bus
    publishes for its service version: it is refused and never gets traffic.

    Raised when it starts serving, so the process fails to start; never an
    HTTP answer (the gateway answers 503 while no matching provider is online).
    """

    code = "contract.mismatch"
    title = "Provider built against another contract"


class DomainError(LgspError):
    """A provider's own error, declared in its service contract.

    Adapters raise it with the declared code; the status comes from the
    contract, so a provider cannot answer with an undeclared error.
    """

    def __init__(self, code: str, detail: str = "", *, status: int = 400, title: str = "") -> None:
        super().__init__(detail)
        # Instance attributes shadow the class defaults on purpose: every
        # domain error has its own code.
        self.code = code  # type: ignore[misc]
        self.status = status  # type: ignore[misc]
        self.title = title or code  # type: ignore[misc]
        self.detail = detail or self.title


def error_for(status: int, code: str) -> type[LgspError] | None:
    """The bus error class with this status and code, if there is one."""
    for cls in _BUS_ERRORS:
        if cls.status == status and cls.code == code:
            return cls
    return None


_BUS_ERRORS: tuple[type[LgspError], ...] = (
    MalformedRequest,
    Unauthenticated,
    Forbidden,
    UnknownService,
    MethodNotAllowed,
    RequestTimeout,
    RequestTooLarge,
    UnsupportedMediaType,
    RequestInvalid,
    IdempotencyConflict,
    RateLimited,
    ResponseInvalid,
    ServiceUnavailable,
    ServiceTimeout,
)
