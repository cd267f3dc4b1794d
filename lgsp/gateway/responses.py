"""What the gateway's answers are made of: JSON bodies, problem documents
(RFC 9457), and the headers every reply of a service version carries."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, time
from email.utils import format_datetime
from typing import Any

import orjson
from aiohttp import web

from lgsp.catalogue.registry import Registry
from lgsp.errors import LgspError

REQUEST_ID = web.RequestKey("request_id", str)
"""The request's id, set by the outermost middleware on every request."""

Headers = tuple[tuple[str, str], ...]

PROBLEM_JSON = "application/problem+json"
NO_STORE = {"Cache-Control": "no-store"}
"""For answers that are about now (admin reads, the dashboard feed, tokens)."""


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer, encoded with orjson (UTF-8, no spaces)."""
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )


def problem_response(
    error: LgspError, request_id: str, raised_by: str | None = None
) -> web.Response:
    """The problem document of a bus error, with its status and headers;
    ``raised_by`` names this LGSP's province when the error does not name
    another node."""
    response = web.Response(
        status=error.status,
        body=orjson.dumps(error.problem(request_id, raised_by)),
        content_type=PROBLEM_JSON,
        headers=error.headers,
    )
    response.headers["X-Request-Id"] = request_id
    return response


def reply_headers(registry: Registry) -> dict[tuple[str, int], Headers]:
    """The headers every reply of a service version carries: its version
    and, once deprecated, ``Deprecation``/``Sunset``/successor ``Link``.
    Computed once per gateway: the exchange path looks them up."""
    out: dict[tuple[str, int], Headers] = {}
    for name, versions in registry.services.items():
        for c in versions:
            headers = [("X-LGSP-Service-Version", str(c.version))]
            if c.deprecated is not None:
                # RFC 9745: a structured-field date, @<unix seconds>.
                headers.append(("Deprecation", f"@{calendar.timegm(c.deprecated.timetuple())}"))
            if c.sunset is not None:
                # RFC 8594: an HTTP-date.
                moment = datetime.combine(c.sunset, time(), tzinfo=UTC)
                headers.append(("Sunset", format_datetime(moment, usegmt=True)))
            if (c.deprecated or c.sunset) and c is not versions[-1]:
                headers.append(("Link", f'</v1/services/{name}>; rel="successor-version"'))
            out[(name, c.version)] = tuple(headers)
    return out
