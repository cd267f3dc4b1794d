"""The simulated VNForm's configuration and state: the provinces' API keys
and webhooks, the invitations, the citizens' answers, and the deliveries
of each answer to its province (signed, retried with backoff, bounded).

Tests assert on what it keeps (``sim.invitations``, ``sim.submissions``,
``sim.deliveries``) and wait with :meth:`Simulator.settled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal

import aiohttp
import structlog
from aiohttp import web

from lgsp_adapters.provinces import PROVINCES
from lgsp_adapters.vnform.forms import COMMENT, COMMENT_MAX, FORMS, SCORES, Form, form_id
from lgsp_adapters.vnform.refusal import refusal
from lgsp_adapters.vnform.signature import HEADER, Signer

log = structlog.get_logger("lgsp_adapters.vnform")

DEFAULT_PORT: Final = 8091
RETRY_DELAYS_S: Final = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""Waits before each new attempt at a delivery that failed (a minute in all)."""
MAX_PENDING: Final = 10_000
"""Deliveries in progress at most; past that a new answer is refused (503)."""
SIMULATE_MAX: Final = 1000


def demo_api_key(province: str) -> str:
    """The demo API key of a province's systems at VNForm."""
    return f"demo-vnform-key-{province}"


DEMO_API_KEYS: Final[Mapping[str, str]] = MappingProxyType(
    {demo_api_key(key): key for key in PROVINCES}
)
"""API key → the province whose systems use it."""


@dataclass(frozen=True)
class VnformConfig:
    """How a simulated VNForm runs."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    """0: any free port (tests)."""
    api_keys: Mapping[str, str] = field(default_factory=lambda: DEMO_API_KEYS)
    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
    delivery_timeout_s: float = 10.0
    max_pending: int = MAX_PENDING
    data_dir: Path | None = None
    """Where the signing key is kept (``signing-key.pem``); None: a new key
    at each start."""
    admin_from_anywhere: bool = False
    """The admin routes answer only this machine unless set."""


@dataclass
class Invitation:
    """One citizen invited to answer one procedure's form about one dossier."""

    token: str
    form: Form
    province: str
    ma_ho_so: str
    ma_tthc: str
    ma_don_vi: str
    citizen: str
    """The pseudonym the province gave (never a personal id)."""
    returned_at: str
    created: dt.datetime
    submission: str | None = None
    """The answer's submission id, once answered (one answer per invitation)."""

    def link(self, base: str) -> str:
        return f"{base}/forms/{self.form.id}?loiMoi={self.token}"

    def as_json(self, base: str) -> dict[str, object]:
        return {
            "loiMoi": self.token,
            "lienKet": self.link(base),
            "maBieuMau": self.form.id,
            "tinh": self.province,
            "maHoSo": self.ma_ho_so,
            "maTTHC": self.ma_tthc,
            "maDonVi": self.ma_don_vi,
            "thamChieuCongDan": self.citizen,
            "daTraLoi": self.submission is not None,
        }


@dataclass
class Submission:
    """One answer, as VNForm keeps it."""

    id: str
    invitation: Invitation
    answers: dict[str, str]
    """Field id → the answer as FormSG gives it (a rating is its digit)."""
    created: dt.datetime

    def webhook_body(self) -> bytes:
        """The body of the webhook: FormSG's ``data`` with its responses (in
        clear here) and the dossier the invitation named."""
        inv = self.invitation
        responses = [
            {
                "_id": q.id,
                "question": q.title,
                "fieldType": q.field_type,
                "answer": self.answers.get(q.id, ""),
            }
            for q in inv.form.questions
        ]
        data = {
            "formId": inv.form.id,
            "submissionId": self.id,
            "created": self.created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "version": 1,
            "invitation": {"maHoSo": inv.ma_ho_so, "maTTHC": inv.ma_tthc, "maDonVi": inv.ma_don_vi},
            "responses": responses,
        }
        return json.dumps({"data": data}, ensure_ascii=False).encode()


DeliveryState = Literal["pending", "delivered", "refused", "failed"]


@dataclass
class Delivery:
    """The delivery of one answer to its province's webhook."""

    submission: str
    province: str
    state: DeliveryState = "pending"
    attempts: int = 0
    url: str | None = None
    last_status: int | None = None
    last_error: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "maPhanHoi": self.submission,
            "tinh": self.province,
            "trangThai": self.state,
            "soLanGui": self.attempts,
            "url": self.url,
            "maTraLoi": self.last_status,
            "loi": self.last_error,
        }


def _retried(status: int) -> bool:
    """Whether an answer of the receiver is worth another attempt."""
    return status >= 500 or status in (408, 429)


class Simulator:
    """One simulated VNForm's state and its deliveries."""

    def __init__(self, config: VnformConfig) -> None:
        self.config = config
        self.url = f"http://{config.host}:{config.port}"
        """Where it listens (the real port once running)."""
        key_path = None if config.data_dir is None else config.data_dir / "signing-key.pem"
        self.signer = Signer.kept_in(key_path)
        self.forms = FORMS
        self.webhooks: dict[str, str] = {}
        """Province → the URL its answers are delivered to."""
        self.invitations: dict[str, Invitation] = {}
        self._invited: dict[tuple[str, str], str] = {}
        """(form, dossier) → its invitation's token: one invitation each."""
        self.submissions: dict[str, Submission] = {}
        self.deliveries: dict[str, Delivery] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self.province_env: dict[str, str] = {}
        """More settings every province's adapters are told (a test's
        network: ``LGSP_VNFORM_RECEIVER_PORT=0``, any free port)."""

    # -- what `lgsp up` and the provinces see of it ------------------------------

    def describe(self) -> str:
        """Its line in ``lgsp up``'s banner."""
        return (
            f"VNForm (sim) {self.url}/forms   invitations {self.url}/admin/invitations   "
            f"deliveries {self.url}/admin/deliveries"
        )

    @property
    def env(self) -> Mapping[str, str]:
        """What every province's adapters are told of it."""
        return {"LGSP_VNFORM_URL": self.url, **self.province_env}

    async def warm(self) -> None:
        """Nothing to build: it answers at once."""

    def network(self, province: str) -> Mapping[str, str] | None:
        """VNForm forwards nothing between provinces."""
        return None

    # -- the API's work ----------------------------------------------------------

    def province_of(self, api_key: str | None) -> str | None:
        return None if api_key is None else self.config.api_keys.get(api_key)

    def invite(
        self,
        province: str,
        *,
        ma_ho_so: str,
        ma_tthc: str,
        ma_don_vi: str,
        citizen: str,
        returned_at: str,
    ) -> tuple[Invitation, bool]:
        """The invitation of a dossier (made once; asking again gives the
        same one) and whether it is new."""
        form = self.forms.get(form_id(ma_tthc))
        if form is None:
            raise refusal(404, "vnform.form.unknown", f"VNForm has no form of procedure {ma_tthc}")
        known = self._invited.get((form.id, ma_ho_so))
        if known is not None:
            return self.invitations[known], False
        invitation = Invitation(
            secrets.token_urlsafe(16),
            form,
            province,
            ma_ho_so,
            ma_tthc,
            ma_don_vi,
            citizen,
            returned_at,
            dt.datetime.now(dt.UTC),
        )
        self.invitations[invitation.token] = invitation
        self._invited[(form.id, ma_ho_so)] = invitation.token
        self._note()
        return invitation, True

    def submit(self, form: Form, token: str, answers: Mapping[str, object]) -> Submission:
        """Take a citizen's answer to their invitation and start delivering it."""
        invitation = self.invitations.get(token)
        if invitation is None or invitation.form.id != form.id:
            raise refusal(404, "vnform.invitation.unknown", "no such invitation to this form")
        if invitation.submission is not None:
            raise refusal(409, "vnform.invitation.answered", "this invitation was answered already")
        if sum(d.state == "pending" for d in self.deliveries.values()) >= self.config.max_pending:
            raise refusal(503, "vnform.busy", "too many answers are being delivered; try later")
        checked = _checked(form, answers)
        submission = Submission(secrets.token_hex(12), invitation, checked, dt.datetime.now(dt.UTC))
        invitation.submission = submission.id
        self.submissions[submission.id] = submission
        delivery = Delivery(submission.id, invitation.province)
        self.deliveries[submission.id] = delivery
        task = asyncio.create_task(self._deliver(submission, delivery), name=f"vnform-{delivery}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Never the comment, nor the citizen: the ids of what happened.
        log.info(
            "vnform.submitted",
            submission=submission.id,
            form=form.id,
            province=invitation.province,
            ma_ho_so=invitation.ma_ho_so,
        )
        self._note()
        return submission

    def simulate(self, seed: int, limit: int) -> list[str]:
        """Answer up to ``limit`` open invitations as citizens might (seeded:
        the same seed over the same invitations gives the same answers)."""
        dice = random.Random(seed)
        open_ones = [i for i in self.invitations.values() if i.submission is None][:limit]
        return [self.submit(i.form, i.token, _answers(dice)).id for i in open_ones]

    # -- deliveries --------------------------------------------------------------

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.delivery_timeout_s)
        )

    async def close(self) -> None:
        """Cancel the deliveries in progress and close the HTTP session."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()

    async def _deliver(self, submission: Submission, delivery: Delivery) -> None:
        body = submission.webhook_body()
        waits = (0.0, *self.config.retry_delays_s)
        for wait in waits:
            if wait:
                await asyncio.sleep(wait)
            delivery.attempts += 1
            done = await self._attempt(submission, delivery, body)
            self._note()
            if done:
                return
        delivery.state = "failed"
        log.warning(
            "vnform.delivery_failed",
            submission=submission.id,
            province=delivery.province,
            attempts=delivery.attempts,
            error=delivery.last_error,
        )
        self._note()

    async def _attempt(self, submission: Submission, delivery: Delivery, body: bytes) -> bool:
        """One attempt; True when there is nothing more to try."""
        url = self.webhooks.get(delivery.province)
        delivery.url = url
        if url is None:
            delivery.last_error = "the province has registered no webhook"
            return False
        inv = submission.invitation
        signed = self.signer.sign(url, submission.id, inv.form.id, body, int(time.time() * 1000))
        assert self._http is not None, "the simulator is not started"
        try:
            async with self._http.post(
                url,
                data=body,
                headers={"Content-Type": "application/json", HEADER: signed.render()},
            ) as answer:
                delivery.last_status = answer.status
                text = (await answer.text())[:300]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            delivery.last_status = None
            delivery.last_error = f"{type(exc).__name__}: {exc}"
            return False
        if 200 <= answer.status < 300:
            delivery.state = "delivered"
            delivery.last_error = None
            log.info("vnform.delivered", submission=submission.id, province=delivery.province)
            return True
        delivery.last_error = text
        if _retried(answer.status):
            return False
        delivery.state = "refused"
        log.warning(
            "vnform.delivery_refused",
            submission=submission.id,
            province=delivery.province,
            status=answer.status,
        )
        return True

    def _note(self) -> None:
        self._changed.set()

    async def settled(self) -> None:
        """Return once no delivery is pending (bound it with ``asyncio.timeout``)."""
        while any(d.state == "pending" for d in self.deliveries.values()):
            self._changed.clear()
            await self._changed.wait()

    async def changed(self) -> None:
        """Return at the next change of the invitations, answers or
        deliveries (bound it with ``asyncio.timeout``)."""
        self._changed.clear()
        await self._changed.wait()


def _checked(form: Form, answers: Mapping[str, object]) -> dict[str, str]:
    """The answers as FormSG keeps them, or a 422 naming what is wrong."""
    known = {q.id for q in form.questions}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise refusal(422, "vnform.answer.invalid", f"the form has no field {', '.join(unknown)}")
    checked: dict[str, str] = {}
    for field_id in SCORES:
        value = answers.get(field_id)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise refusal(
                422, "vnform.answer.invalid", f"{field_id} is a rating from 1 to 5 (required)"
            )
        checked[field_id] = str(value)
    comment = answers.get(COMMENT)
    if comment is not None:
        if not isinstance(comment, str) or len(comment) > COMMENT_MAX:
            raise refusal(
                422, "vnform.answer.invalid", f"{COMMENT} is a text of at most {COMMENT_MAX}"
            )
        if comment.strip():
            checked[COMMENT] = comment.strip()
    return checked


_WEIGHTS: Final = (0.04, 0.07, 0.17, 0.42, 0.30)
"""How citizens' scores spread in the simulation (mostly satisfied)."""
_COMMENTS: Final = (
    "Cán bộ hướng dẫn tận tình, trả kết quả đúng hẹn.",
    "Thủ tục nhanh gọn, không phải đi lại nhiều lần.",
    "Phải chờ lâu ở bộ phận một cửa, đề nghị bố trí thêm người.",
    "Cần hướng dẫn rõ hơn về giấy tờ phải nộp bổ sung.",
    # Citizens write their own details into comments: the province masks them.
    "Tôi đã gọi số 0912345678 nhiều lần không ai nghe máy, CCCD 087090001234.",
)


def _answers(dice: random.Random) -> dict[str, object]:
    overall = dice.choices(range(1, 6), _WEIGHTS)[0]
    answers: dict[str, object] = {
        "tongThe": overall,
        "thoiGian": max(1, min(5, overall + dice.choice((-1, 0, 0, 1)))),
        "thaiDo": max(1, min(5, overall + dice.choice((-1, 0, 0, 0, 1)))),
    }
    if dice.random() < 0.4:
        answers[COMMENT] = dice.choice(_COMMENTS)
    return answers


SIMULATOR: Final = web.AppKey("vnform.simulator", Simulator)
