"""The national public service portal (Cổng Dịch vụ công quốc gia) behind the
simulated NDXP, speaking its adapter's protocol: a session login, then
``{session, madonvi, service, data, isUpdating}`` calls answered with
``error_code`` "00"; plus read-back routes showing what the provinces synced.
Each province's LGSP has its account, syncing under its agency code
(``madonvi``): a dossier belongs to the agency that first synced it.
"""

from __future__ import annotations

import secrets

import structlog
from aiohttp import web
from pydantic import ValidationError

from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.auth import authenticate
from lgsp_adapters.ndxp.dossiers import PortalError
from lgsp_adapters.ndxp.native import DangNhap, YeuCauCong, refusal, respond
from lgsp_adapters.ndxp.simulator import SIMULATOR

log = structlog.get_logger("lgsp_adapters.ndxp.portal")

API = "dvcqg"


async def login(request: web.Request) -> web.Response:
    """``POST /dvcqg/1.0/login``: a session for the portal adapter's account."""
    sim = request.app[SIMULATOR]
    authenticate(request, API)
    try:
        body = DangNhap.model_validate_json(await request.read())
    except ValidationError:
        raise refusal(400, native.DATA_TYPE_INVALID, "username and password expected") from None
    account = sim.config.portal_accounts.get(body.username)
    if account is None or not secrets.compare_digest(account.password, body.password):
        log.info("dvcqg.login_refused", username=body.username)
        return respond(native.answer(native.AUTHEN_ERROR, "wrong username or password"))
    log.info("dvcqg.login", username=body.username)
    return respond(native.answer(native.OK, session=sim.sessions.issue(body.username)))


async def integration(request: web.Request) -> web.Response:
    """``POST /dvcqg/1.0/integration``: ``DongBoHoSoMC`` and ``CapNhatTienDoHoSoMC``."""
    sim = request.app[SIMULATOR]
    authenticate(request, API)
    try:
        body = YeuCauCong.model_validate_json(await request.read())
    except ValidationError as exc:
        raise refusal(400, native.DATA_TYPE_INVALID, exc.errors()[0]["msg"]) from None
    username = sim.sessions.holder(body.session)
    if username is None:
        return respond(native.answer(native.AUTHEN_ERROR, "session invalid or expired"))
    if body.madonvi != sim.config.portal_accounts[username].madonvi:
        return respond(native.answer(native.AGENCY_ID_INCORRECT, f"madonvi {body.madonvi}"))
    known = body.service in (native.DONG_BO, native.CAP_NHAT)
    sim.count(f"dvcqg.{body.service if known else 'other'}")  # bounded keys
    try:
        if body.service == native.DONG_BO:
            results = sim.dossiers.sync(body.madonvi, body.data, body.isUpdating)
        elif body.service == native.CAP_NHAT:
            results = sim.dossiers.update(body.madonvi, body.data)
        else:
            raise PortalError(native.DATA_TYPE_INVALID, f"unknown service {body.service}")
    except PortalError as exc:
        log.info("dvcqg.refused", service=body.service, code=exc.code, detail=exc.detail)
        return respond(native.answer(exc.code, exc.detail))
    log.info("dvcqg.synced", service=body.service, dossiers=len(results))
    return respond(native.answer(native.PORTAL_OK, result=[r.model_dump() for r in results]))


async def dossiers(request: web.Request) -> web.Response:
    """``GET /dvcqg/hoso[?madonvi=]``: every dossier the portal holds (of one
    agency, i.e. one province, if given), in short."""
    sim = request.app[SIMULATOR]
    agency = request.query.get("madonvi")
    held = [d.summary() for d in sim.dossiers if agency is None or d.madonvi == agency]
    return respond(native.answer(native.OK, data=held))


async def dossier(request: web.Request) -> web.Response:
    """``GET /dvcqg/hoso/{MaHoSo}``: all the portal holds of one dossier."""
    sim = request.app[SIMULATOR]
    found = sim.dossiers.get(request.match_info["MaHoSo"])
    if found is None:
        raise refusal(404, native.RECORD_NOT_FOUND, "no such dossier")
    return respond(native.answer(native.OK, data=found.native()))
