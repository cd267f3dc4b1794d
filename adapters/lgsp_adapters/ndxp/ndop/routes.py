"""NDOP's routes for the LGSPs and its operators: the reports an LGSP sends
(bearer token of NDXP, API ``ndop``), the traffic between agencies and
provinces over a period, and the trace of one request (both answer this
machine only, as the simulator's admin routes do, unless it is configured
``admin_from_anywhere``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
from typing import Any, Final

import structlog
from aiohttp import web
from pydantic import ValidationError

from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.auth import authenticate
from lgsp_adapters.ndxp.native import refusal, respond
from lgsp_adapters.ndxp.ndop.reports import MAX_BATCH, TraceBatch, mask
from lgsp_adapters.ndxp.ndop.state import API, NDOP
from lgsp_adapters.ndxp.simulator import SIMULATOR
from lgsp_adapters.workdays import VN_TZ

log = structlog.get_logger("lgsp_adapters.ndxp.ndop")

MAX_BODY: Final = 4 << 20
"""A batch's body at most: a full batch of reports with long agency names
fits, whatever the platform's own limit."""
_PROVINCE: Final = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
# A '+' of an offset left unescaped in a query string arrives as a space.
_SPACED_OFFSET: Final = re.compile(r" (\d{2}:?\d{2})$")


def error(status: int, code: str, detail: str, **headers: str) -> web.Response:
    """A native error answer of any status (``native.refusal`` raises only 4xx
    it knows)."""
    return respond(native.answer(code, detail), status=status, headers=headers or None)


def _detail(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


async def traces(request: web.Request) -> web.Response:
    """``POST /ndop/v1/traces``: keep a batch of reports of the caller's
    province, each once (by ``trace_id``); all or nothing."""
    holder = authenticate(request, API)
    try:
        body = await request.clone(client_max_size=MAX_BODY).read()
    except web.HTTPRequestEntityTooLarge:
        return error(413, native.DATA_TYPE_INVALID, f"a batch is at most {MAX_BODY} bytes")
    try:
        batch = TraceBatch.model_validate_json(body)
    except ValidationError as exc:
        problems = exc.errors(include_url=False)
        if any(e["type"] == "too_long" and e["loc"] == ("traces",) for e in problems):
            return error(413, native.DATA_TYPE_INVALID, f"at most {MAX_BATCH} reports a batch")
        unreadable = any(e["type"] == "json_invalid" or not e["loc"] for e in problems)
        log.info("ndop.traces.invalid", client=holder, errors=len(problems))
        return error(400 if unreadable else 422, native.DATA_TYPE_INVALID, _detail(exc))
    # The province whose LGSP the token holder is, from its registration at
    # NDXP: None for a national system, which reports for no province.
    province = request.app[SIMULATOR].config.clients[holder].province
    others = sorted({t.reporter for t in batch.traces} - {province})
    if others:
        log.warning("ndop.traces.not_own", client=holder, reporters=others)
        own = "no province's LGSP" if province is None else f"the LGSP of {province}"
        raise refusal(
            403,
            native.AGENCY_ID_INCORRECT,
            f"{holder} is {own}: it cannot report for {', '.join(others)}",
        )
    accepted = await request.app[NDOP].store.add(batch.traces)
    duplicates = len(batch.traces) - accepted
    log.info("ndop.traces.kept", reporter=province, accepted=accepted, duplicates=duplicates)
    return respond(native.answer(native.OK, accepted=accepted, duplicates=duplicates))


def _this_machine_only(request: web.Request) -> None:
    if request.app[SIMULATOR].config.admin_from_anywhere:
        return
    try:
        loopback = request.remote is not None and ipaddress.ip_address(request.remote).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise refusal(
            403, native.IP_DISALLOWED, "NDOP's inspection routes answer this machine only"
        )


def _moment(text: str) -> dt.datetime:
    """An ISO 8601 date-time with its offset, or a date (its midnight in
    Asia/Ho_Chi_Minh); ValueError otherwise."""
    text = _SPACED_OFFSET.sub(r"+\1", text.strip())
    if len(text) == 10:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), VN_TZ)
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no offset")
    return moment


async def traffic(request: web.Request) -> web.Response:
    """``GET /ndop/v1/traffic?from=&to=[&province=]``: requests between
    agencies and provinces in ``[from, to)``, each counted once, by outcome."""
    _this_machine_only(request)
    query = request.query
    province = query.get("province") or None
    try:
        start, end = _moment(query["from"]), _moment(query["to"])
    except (KeyError, ValueError):
        return error(
            400,
            native.DATA_TYPE_INVALID,
            "from and to are required: ISO 8601 date-times with an offset, or dates",
        )
    if end <= start:
        return error(400, native.DATA_TYPE_INVALID, "to must come after from")
    if province is not None and not _PROVINCE.match(province):
        return error(400, native.DATA_TYPE_INVALID, f"{province!r} is not a province key")
    rows = await request.app[NDOP].store.traffic(start, end, province)
    totals = {k: sum(getattr(r, k) for r in rows) for k in ("calls", "ok", "refused", "failed")}
    period: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat()}
    return respond(
        native.answer(
            native.OK,
            **period,
            province=province,
            rows=[dataclasses.asdict(r) for r in rows],
            totals=totals,
        )
    )


async def trace(request: web.Request) -> web.Response:
    """``GET /ndop/v1/traces/{request_id}``: every report of one request, in
    time order (both sides), the subject's id masked."""
    _this_machine_only(request)
    request_id = request.match_info["request_id"]
    reports = await request.app[NDOP].store.request(request_id)
    if not reports:
        raise refusal(404, native.RECORD_NOT_FOUND, "no report of this request")
    return respond(
        native.answer(
            native.OK,
            request_id=request_id,
            reports=[{**t.model_dump(mode="json"), "subject": mask(t.subject)} for t in reports],
        )
    )
