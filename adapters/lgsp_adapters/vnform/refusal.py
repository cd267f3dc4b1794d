"""How VNForm's API and the province's webhook receiver refuse a request:
an HTTP error with a JSON body naming its code and saying why."""

from __future__ import annotations

import json
from typing import Final

from aiohttp import web

_CLASSES: Final[dict[int, type[web.HTTPException]]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    413: web.HTTPRequestEntityTooLarge,
    415: web.HTTPUnsupportedMediaType,
    422: web.HTTPUnprocessableEntity,
    503: web.HTTPServiceUnavailable,
}


def refusal(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None
) -> web.HTTPException:
    """The error to raise from a handler: ``{"status", "code", "detail"}``."""
    cls = _CLASSES.get(status, web.HTTPBadRequest)
    body = json.dumps({"status": cls.status_code, "code": code, "detail": detail})
    return cls(text=body, content_type="application/json", headers=headers)
