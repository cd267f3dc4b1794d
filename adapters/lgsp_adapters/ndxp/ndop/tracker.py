"""The citizens' data tracker: a citizen (or an LGSP asking for one, with
its NDXP token) gives a personal id and its birth date, and sees every use
of that person's data the LGSPs reported, newest first, one per request.

Privacy rules, each for a reason:
- the birth date the national population database holds is the proof; a
  wrong birth date and an unknown id answer exactly alike (same status, same
  body) after the same work (one lookup, one constant-time comparison), so
  that the answer tells nobody who exists;
- every try counts against the caller's allowance (:mod:`.attempts`), so
  that ids cannot be run through: 429 with ``Retry-After`` beyond it;
- the history is only ever read for the id that was proven, and answered
  with that id masked and ``Cache-Control: no-store``; logs name the id
  masked, never the birth date.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Final

import structlog
from aiohttp import web
from pydantic import ValidationError

from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.auth import authenticate
from lgsp_adapters.ndxp.ndop.reports import mask, outcome
from lgsp_adapters.ndxp.ndop.routes import error
from lgsp_adapters.ndxp.ndop.state import API, NDOP
from lgsp_adapters.ndxp.ndop.store import Access
from lgsp_contracts.ndop import LichSuTruyCap, LuotTruyCap, YeuCauLichSuTruyCap

log = structlog.get_logger("lgsp_adapters.ndxp.ndop")

STATIC: Final = Path(__file__).resolve().parents[1] / "static"
PAGE: Final = STATIC / "tracker.html"
NO_MATCH: Final = "no record matches this personal id and birth date"
# Compared with the given date when nobody has the id: no ISO date equals
# it, and it has an ISO date's length, so both paths compare alike.
_NOBODY: Final = "0000-00-00"
_PRIVATE: Final = {"Cache-Control": "no-store"}
_PAGE_HEADERS: Final = {
    # Nothing but this platform: no script, style or font from anywhere else.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _entry(access: Access) -> LuotTruyCap:
    return LuotTruyCap.model_validate(
        {
            "thoiDiem": access.at,
            "coQuan": access.agency,
            "maCoQuan": access.client,
            "tinh": access.origin,
            "dichVu": access.service,
            "mucDich": access.purpose,
            "ketQua": outcome(access.status),
        },
        strict=False,
    )


async def history(request: web.Request) -> web.Response:
    """``POST /ndop/v1/tracker`` ``{"soDinhDanh", "ngaySinh"}``: the uses of
    this citizen's data (the contract ``ndop.access.history``)."""
    ndop = request.app[NDOP]
    if "Authorization" in request.headers:
        caller, client = authenticate(request, API), True
    else:
        caller, client = request.remote or "unknown", False
    wait = ndop.attempts.take(caller, client=client)
    if wait is not None:
        log.info("ndop.tracker.limited", client=caller if client else None, retry_after=wait)
        return error(
            429,
            native.FAILED,
            f"too many attempts: try again in {wait} s",
            **{"Retry-After": str(wait)},
        )
    try:
        ask = YeuCauLichSuTruyCap.model_validate_json(await request.read())
    except ValidationError:
        return error(400, native.DATA_TYPE_INVALID, "give soDinhDanh (12 digits) and ngaySinh")
    born = await ndop.population(ask.soDinhDanh)
    expected = _NOBODY if born is None else born.isoformat()
    proven = hmac.compare_digest(expected, ask.ngaySinh.isoformat())
    subject = mask(ask.soDinhDanh)
    if not proven:
        log.info("ndop.tracker.no_match", subject=subject, client=caller if client else None)
        return error(404, native.RECORD_NOT_FOUND, NO_MATCH, **_PRIVATE)
    accesses = await ndop.store.accesses(ask.soDinhDanh)
    log.info(
        "ndop.tracker.answered",
        subject=subject,
        accesses=len(accesses),
        client=caller if client else None,
    )
    answer = LichSuTruyCap(soDinhDanh=subject, truyCap=[_entry(a) for a in accesses])
    return web.Response(
        body=answer.model_dump_json(),
        content_type="application/json",
        headers=_PRIVATE,
    )


async def page(request: web.Request) -> web.FileResponse:
    """``GET /ndop/tracker``: the citizens' page."""
    return web.FileResponse(PAGE, headers=_PAGE_HEADERS)
