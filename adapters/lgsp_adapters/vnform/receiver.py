"""The province's receiver of VNForm's webhooks: ``POST /webhooks/vnform``.

Each delivery is checked before anything is believed of it:

1. its ``X-FormSG-Signature`` verifies with VNForm's public key over this
   receiver's URL, the submission, the form, the time and the body
   (:mod:`~lgsp_adapters.vnform.signature`), else **401**
   ``vnform.webhook.forged``;
2. it was signed within five minutes of now, else **401**
   ``vnform.webhook.stale`` (a delivery captured and sent again later);
3. it is not a delivery already taken (the same submission with the same
   signature time), else **409** ``vnform.webhook.replayed``. VNForm signs
   each attempt afresh, so a retry of an answer already received (its
   first answer lost on the way back) has a new time: it is acknowledged
   (200, ``"duplicate": true``) without a second event.

Then the answer is published, de-identified (:func:`answer_of`): the
dossier, procedure, agency and scores, and the comment with its personal
ids, phone numbers and e-mail addresses masked; never the citizen. An
answer the bus cannot take now is answered 503, and VNForm tries again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog
from aiohttp import web

from lgsp import LgspError
from lgsp_adapters.vnform.forms import COMMENT, SCORES
from lgsp_adapters.vnform.refusal import refusal
from lgsp_adapters.vnform.signature import HEADER, SignatureRefused, Verifier
from lgsp_adapters.workdays import VN_TZ
from lgsp_contracts.feedback import PhanHoiKhaoSat

log = structlog.get_logger("lgsp_adapters.vnform.receiver")

PATH: Final = "/webhooks/vnform"
MAX_BODY: Final = 64 * 1024
REMEMBERED: Final = 100_000
"""Deliveries remembered against replays (the oldest forgotten first; by
then their signatures are long stale)."""

_PERSONAL_ID: Final = re.compile(r"(?<!\d)(\d{3})\d{7}(\d{2})(?!\d)")
_PHONE: Final = re.compile(r"(?<![\d+])(\+84|0)\d{7,8}(\d{2})(?!\d)")
_EMAIL: Final = re.compile(r"[^\s@,;:<>()]+@[^\s@,;:<>()]+\.[A-Za-z]{2,}")

Publish = Callable[[PhanHoiKhaoSat], Awaitable[None]]


def mask_comment(text: str) -> str:
    """A comment as the bus may carry it: a personal id as its first 3 and
    last 2 digits (as the bus masks ids everywhere), a phone number as its
    last 2, an e-mail address hidden."""
    text = _PERSONAL_ID.sub(r"\1*******\2", text)
    text = _PHONE.sub(lambda m: "*" * 8 + m[2], text)
    return _EMAIL.sub("***@***", text)


def answer_of(data: dict[str, Any]) -> PhanHoiKhaoSat:
    """The de-identified answer of a webhook's ``data`` (ValueError when it
    is not VNForm's shape)."""
    answers = {
        r["_id"]: r.get("answer")
        for r in data.get("responses", ())
        if isinstance(r, dict) and isinstance(r.get("_id"), str)
    }
    invitation = data.get("invitation")
    if not isinstance(invitation, dict):
        raise ValueError("the delivery names no invitation")
    comment = answers.get(COMMENT)
    try:
        created = dt.datetime.fromisoformat(str(data.get("created")).replace("Z", "+00:00"))
        return PhanHoiKhaoSat.model_validate(
            {
                "maPhanHoi": data.get("submissionId"),
                "maBieuMau": data.get("formId"),
                "maHoSo": invitation.get("maHoSo"),
                "maTTHC": invitation.get("maTTHC"),
                "maDonVi": invitation.get("maDonVi"),
                "diemTongThe": int(str(answers.get(SCORES[0]))),
                "diemThoiGian": int(str(answers.get(SCORES[1]))),
                "diemThaiDo": int(str(answers.get(SCORES[2]))),
                "gopY": mask_comment(comment) if isinstance(comment, str) and comment else None,
                "thoiDiem": created.astimezone(VN_TZ),
            }
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a VNForm answer: {exc}") from None


class Receiver:
    """One province's receiver: its URL (what signatures cover), VNForm's
    key once known, the deliveries already taken, and what it counted."""

    def __init__(self, publish: Publish, *, clock: Callable[[], float] = time.time) -> None:
        self._publish = publish
        self._clock = clock
        self.url: str = ""
        """The URL VNForm posts to, as registered there."""
        self.verifier: Verifier | None = None
        """VNForm's public key, once the connector has it."""
        self._taken: OrderedDict[str, int] = OrderedDict()
        """Submission id → the signature time of the delivery taken."""
        self._busy: set[str] = set()
        self.counts: Counter[str] = Counter()
        """Deliveries by outcome: published, duplicate, forged, stale, replayed, ..."""

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /webhooks/vnform``."""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.counts["too_large"] += 1
            raise
        verifier = self.verifier
        if verifier is None:
            self.counts["not_ready"] += 1
            raise refusal(
                503,
                "vnform.webhook.not_ready",
                "the province does not have VNForm's public key yet",
                headers={"Retry-After": "5"},
            )
        try:
            signed = verifier.verify(
                request.headers.get(HEADER), self.url, body, int(self._clock() * 1000)
            )
        except SignatureRefused as exc:
            self._refused(exc.code, str(exc), request)
            raise refusal(401, exc.code, str(exc)) from None
        sid = signed.submission_id
        taken = self._taken.get(sid)
        if taken == signed.epoch_ms:
            detail = (
                f"submission {sid} was delivered and taken already with this very signature "
                f"(t={signed.epoch_ms}): a replayed delivery"
            )
            self._refused("vnform.webhook.replayed", detail, request)
            raise refusal(409, "vnform.webhook.replayed", detail)
        if taken is not None:
            self.counts["duplicate"] += 1
            log.info("vnform.webhook_duplicate", submission=sid)
            return web.json_response({"received": True, "duplicate": True})
        if sid in self._busy:
            raise refusal(
                503,
                "vnform.webhook.in_progress",
                f"submission {sid} is being received",
                headers={"Retry-After": "1"},
            )
        try:
            payload = json.loads(body)
            data = payload["data"]
            if data.get("submissionId") != sid or data.get("formId") != signed.form_id:
                raise ValueError("the body's submission or form is not the signature's")
            answer = answer_of(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._refused("vnform.webhook.invalid", str(exc), request)
            raise refusal(422, "vnform.webhook.invalid", str(exc)) from None
        self._busy.add(sid)
        try:
            await self._publish(answer)
        except LgspError as exc:
            # The bus cannot take it now: VNForm keeps it and tries again.
            self.counts["unavailable"] += 1
            log.warning("vnform.webhook_not_published", submission=sid, error=exc.detail)
            raise refusal(
                503,
                "vnform.webhook.unavailable",
                "the bus cannot take it now; try again",
                headers={"Retry-After": "5"},
            ) from None
        finally:
            self._busy.discard(sid)
        self._remember(sid, signed.epoch_ms)
        self.counts["published"] += 1
        log.info(
            "vnform.feedback_published",
            submission=sid,
            form=answer.maBieuMau,
            ma_ho_so=answer.maHoSo,
        )
        return web.json_response({"received": True, "duplicate": False})

    def _remember(self, sid: str, epoch_ms: int) -> None:
        self._taken[sid] = epoch_ms
        while len(self._taken) > REMEMBERED:
            self._taken.popitem(last=False)

    def _refused(self, code: str, detail: str, request: web.Request) -> None:
        self.counts[code.rsplit(".", 1)[-1]] += 1
        log.warning("vnform.webhook_refused", code=code, detail=detail, peer=request.remote)


def create_app(receiver: Receiver) -> web.Application:
    """The receiver's application: ``POST /webhooks/vnform`` and ``GET /healthz``."""
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(PATH, receiver.handle)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "ready": receiver.verifier is not None})

    app.router.add_get("/healthz", healthz)
    return app
