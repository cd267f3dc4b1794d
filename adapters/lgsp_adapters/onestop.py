"""Mock of the provincial one-stop-shop (Hệ thống thông tin giải quyết thủ
tục hành chính): it receives dossiers, numbers them, sets their due date in
working days, moves them along their legal lifecycle, keeps them in memory
and announces every step on ``onestop.dossier.status-changed``.

It starts with the demo dossiers of the contracts (``DEMO_DOSSIERS``), so the
status and update-status examples are real on a fresh one-stop-shop.

When a dossier's result is returned (status '10', đã trả kết quả), it
invites the applicant to rate the service: ``onestop.feedback.invited``,
naming the citizen by a pseudonym (:func:`citizen_reference`, a keyed hash
of the personal id), which the province's VNForm connector turns into an
invitation on VNForm.

One one-stop-shop per province: each copy of the adapter made for a province
of a network (``Adapter.copy``) keeps its own :class:`DossierBook`
(:func:`book`), numbering dossiers with its province's agency code; the demo
dossiers are Đồng Tháp's. The module-level adapter, in one-province mode,
keeps the module's :data:`dossiers`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import structlog

from lgsp import Adapter, Context, DomainError
from lgsp_adapters import provinces
from lgsp_adapters.workdays import VN_TZ, add_working_days
from lgsp_contracts.feedback import INVITED_TOPIC, LoiMoiKhaoSat
from lgsp_contracts.fields import CaNhan, ThamChieuThuaDat
from lgsp_contracts.onestop import (
    CAN_GHI_CHU,
    CHUYEN_TRANG_THAI,
    DA_TIEP_NHAN,
    DEMO_DOSSIERS,
    OWNER,
    THU_TUC,
    TRANG_THAI_HO_SO,
    BienNhanHoSo,
    BuocXuLy,
    DanhSachHoSo,
    DanhSachThuTuc,
    HoSo,
    SuKienTrangThaiHoSo,
    ThongTinThuTuc,
    ThuTuc,
    TrangThaiHoSo,
    YeuCauCapNhatTrangThai,
    YeuCauDanhSachHoSo,
    YeuCauDanhSachThuTuc,
    YeuCauNopHoSo,
    YeuCauTraCuuHoSo,
)

log = structlog.get_logger("lgsp_adapters.onestop")

adapter = Adapter("onestop", agency=OWNER)

AGENCY_CODE: Final = provinces.PROVINCES[provinces.DEFAULT].agency_code
"""The receiving agency in dossier numbers (QCVN 102:2016 form) in
one-province mode: Đồng Tháp People's Committee, ``000.00.00.H20``, as the
province's own one-stop system (OpenCPS) names it, with its departments
numbering dossiers like ``000.00.14.H20-200703-0002``. That is the pre-2025
province's code; whether the merged province kept it is not verified, so
for the post-2025 Đồng Tháp it is illustrative. Other provinces number with
their own (:attr:`~lgsp_adapters.provinces.Province.agency_code`)."""

PROCEDURES: Final[dict[str, ThuTuc]] = {t.ma_tthc: t for t in THU_TUC}
UNKNOWN_PROCEDURE: Final = "onestop.procedure.unknown"
REJECTED: Final = "onestop.dossier.rejected"
NOT_FOUND: Final = "onestop.dossier.not_found"
ILLEGAL_TRANSITION: Final = "onestop.dossier.illegal_transition"
TIME_INVALID: Final = "onestop.dossier.time_invalid"
REASON_REQUIRED: Final = "onestop.dossier.reason_required"
STATUS_TOPIC: Final = "onestop.dossier.status-changed"
RETURNED: Final = "10"
"""The status of a dossier whose result was returned: its applicant is
invited to rate the service."""
DEMO_PSEUDONYM_KEY: Final = "demo-onestop-pseudonym-key"
RECEIVED_NOTE: Final = "Tiếp nhận hồ sơ"
# Clocks differ a little between a counter's PC and the server.
_CLOCK_SKEW: Final = dt.timedelta(minutes=5)


Receipt = tuple[str, str, dt.datetime, ThamChieuThuaDat | None]
"""What makes two submissions the same dossier: procedure, applicant, time
of receipt and parcel."""


@dataclass
class Step:
    """One status a dossier entered."""

    status: TrangThaiHoSo
    at: dt.datetime
    note: str | None
    announced: bool = False
    """Whether it was published (the portal heard of it)."""


@dataclass
class Dossier:
    """A dossier (hồ sơ) as the one-stop-shop keeps it."""

    ma_ho_so: str
    ma_tthc: str
    procedure: ThuTuc
    applicant: CaNhan
    parcel: ThamChieuThuaDat | None
    received: dt.datetime
    due: dt.datetime
    steps: list[Step] = field(default_factory=list)
    """Oldest first; the last is the status now."""

    @property
    def status(self) -> TrangThaiHoSo:
        return self.steps[-1].status

    def snapshot(self) -> HoSo:
        """The dossier as ``onestop.dossier.status`` answers it."""
        return HoSo(
            maHoSo=self.ma_ho_so,
            maTTHC=self.ma_tthc,
            tenTTHC=self.procedure.ten_tthc,
            chuHoSo=self.applicant,
            thuaDat=self.parcel,
            ngayTiepNhan=self.received,
            ngayHenTra=self.due,
            trangThai=self.status,
            lichSu=[BuocXuLy(trangThai=s.status, thoiDiem=s.at, ghiChu=s.note) for s in self.steps],
        )


def allowed_after(status: TrangThaiHoSo) -> tuple[TrangThaiHoSo, ...]:
    """The legal next statuses of a dossier in ``status``."""
    return CHUYEN_TRANG_THAI.get(status, ())


def _named(statuses: Iterable[TrangThaiHoSo]) -> str:
    return ", ".join(f"'{s}' ({TRANG_THAI_HO_SO[s]})" for s in statuses)


class DossierBook:
    """The one-stop-shop's dossiers, in memory, numbered per day of receipt
    (Circular 01/2018/TT-VPCP: ``<agency code>-YYMMDD-NNNN``), starting with
    the demo dossiers.

    The same dossier handed in twice (same procedure, applicant, time of
    receipt and parcel) is one dossier: the second submission gets the first
    one's receipt."""

    def __init__(
        self,
        seeds: Iterable[Mapping[str, Any]] = DEMO_DOSSIERS,
        *,
        agency_code: str = AGENCY_CODE,
    ) -> None:
        self.agency_code = agency_code
        """The receiving agency's code, the prefix of the dossier numbers."""
        self._seeds = tuple(seeds)
        self._dossiers: dict[str, Dossier] = {}
        self._receipts: dict[Receipt, str] = {}
        self._numbered: dict[dt.date, int] = {}
        self.clear()

    def receive(self, request: YeuCauNopHoSo, procedure: ThuTuc, received: dt.datetime) -> Dossier:
        """The dossier of this submission: the one already received, or a
        new one numbered on its day of receipt."""
        return self._open(procedure, request.maTTHC, request.chuHoSo, request.thuaDat, received)

    def advance(
        self,
        ma_ho_so: str,
        status: TrangThaiHoSo,
        *,
        at: dt.datetime | None,
        note: str | None,
        now: dt.datetime,
    ) -> Dossier:
        """Move a dossier to ``status`` (at ``at``, default ``now``) if that is
        a legal next step. Asking again for the step just taken (same status,
        note and time, or no time) changes nothing."""
        dossier = self._dossiers.get(ma_ho_so)
        if dossier is None:
            raise DomainError(NOT_FOUND, "the one-stop-shop has no such dossier")
        latest = dossier.steps[-1]
        if status == latest.status and note == latest.note and at in (None, latest.at):
            return dossier
        allowed = allowed_after(latest.status)
        if status not in allowed:
            raise DomainError(
                ILLEGAL_TRANSITION,
                f"the dossier is in {_named([latest.status])}, which cannot go to "
                f"{_named([status])}; allowed next: {_named(allowed) or 'none, it is final'}",
            )
        if status in CAN_GHI_CHU and note is None:
            what = "the reasons for refusing" if status == "3" else "the documents needed"
            raise DomainError(REASON_REQUIRED, f"status '{status}' needs a ghiChu with {what}")
        when = max(now, latest.at) if at is None else at.astimezone(VN_TZ)
        if when < latest.at:
            raise DomainError(
                TIME_INVALID, f"thoiDiem is before the dossier's latest step ({latest.at})"
            )
        if when > now + _CLOCK_SKEW:
            raise DomainError(TIME_INVALID, "thoiDiem is in the future")
        dossier.steps.append(Step(status, when, note))
        return dossier

    def get(self, ma_ho_so: str) -> Dossier | None:
        return self._dossiers.get(ma_ho_so)

    def changed(
        self, *, since: dt.datetime | None, after: str | None, limit: int
    ) -> tuple[list[Dossier], bool]:
        """At most ``limit`` dossiers whose latest step is at or after
        ``since`` (if given), in dossier-number order after ``after`` (if
        given); and whether more follow. One agency numbers them all, so
        this is the order of the day of receipt, then of rank that day."""
        page: list[Dossier] = []
        for number in sorted(self._dossiers):
            if after is not None and number <= after:
                continue
            dossier = self._dossiers[number]
            if since is not None and dossier.steps[-1].at < since:
                continue
            if len(page) == limit:
                return page, True
            page.append(dossier)
        return page, False

    def __iter__(self) -> Iterator[Dossier]:
        return iter(tuple(self._dossiers.values()))

    def __len__(self) -> int:
        return len(self._dossiers)

    def clear(self) -> None:
        """Back to a fresh one-stop-shop: only the demo dossiers, as at start."""
        self._dossiers.clear()
        self._receipts.clear()
        self._numbered.clear()
        for seed in self._seeds:
            self._seed(seed)

    def _open(
        self,
        procedure: ThuTuc,
        ma_tthc: str,
        applicant: CaNhan,
        parcel: ThamChieuThuaDat | None,
        received: dt.datetime,
    ) -> Dossier:
        key: Receipt = (procedure.ma_tthc, applicant.soDinhDanh, received, parcel)
        known = self._receipts.get(key)
        if known is not None:
            return self._dossiers[known]
        dossier = Dossier(
            ma_ho_so=self._number(received),
            ma_tthc=ma_tthc,
            procedure=procedure,
            applicant=applicant,
            parcel=parcel,
            received=received,
            due=add_working_days(received, procedure.so_ngay_xu_ly),
            steps=[Step(DA_TIEP_NHAN, received, RECEIVED_NOTE)],
        )
        self._dossiers[dossier.ma_ho_so] = dossier
        self._receipts[key] = dossier.ma_ho_so
        return dossier

    def _number(self, received: dt.datetime) -> str:
        day = received.astimezone(VN_TZ).date()
        rank = self._numbered.get(day, 0) + 1
        if rank > 9999:
            raise DomainError(REJECTED, "the agency has numbered 9999 dossiers on that day")
        self._numbered[day] = rank
        return f"{self.agency_code}-{day:%y%m%d}-{rank:04d}"

    def _seed(self, seed: Mapping[str, Any]) -> None:
        """Take a demo dossier in as if it had been received and moved along
        here, so it obeys the same rules (numbering, working days, legal
        steps) or fails loudly."""
        wanted = HoSo.model_validate_json(orjson.dumps(seed))
        first, *later = wanted.lichSu
        procedure = PROCEDURES[wanted.maTTHC[:8]]
        received = first.thoiDiem.astimezone(VN_TZ)
        dossier = self._open(procedure, wanted.maTTHC, wanted.chuHoSo, wanted.thuaDat, received)
        dossier.steps[0].note = first.ghiChu
        for later_step in later:
            at = later_step.thoiDiem
            self.advance(
                dossier.ma_ho_so, later_step.trangThai, at=at, note=later_step.ghiChu, now=at
            )
        for step in dossier.steps:
            step.announced = True  # it was there before the bus
        if dossier.snapshot() != wanted:
            raise ValueError(f"demo dossier {wanted.maHoSo} breaks the one-stop-shop's rules")


def _book_of(env: Mapping[str, str]) -> DossierBook:
    province = provinces.province_of(env)
    seeds = DEMO_DOSSIERS if province.key == provinces.DEFAULT else ()
    return DossierBook(seeds, agency_code=province.agency_code)


dossiers = _book_of(os.environ)
"""The one-stop-shop of the module-level adapter (one province a process:
``LGSP_PROVINCE``, Đồng Tháp by default)."""
_books = adapter.per_copy(lambda copy: dossiers if copy is adapter else _book_of(copy.env))


def book(of: Adapter | None = None) -> DossierBook:
    """The dossiers of one copy of the adapter (by default the one whose
    code runs now): :data:`dossiers` for the module-level adapter, else a
    book of the copy's own, made on first use, numbered with its
    province's agency code and holding the demo dossiers if it is Đồng
    Tháp's."""
    return _books(of)


def _now() -> dt.datetime:
    return dt.datetime.now(VN_TZ).replace(microsecond=0)


def citizen_reference(so_dinh_danh: str, env: Mapping[str, str] | None = None) -> str:
    """The applicant as the survey invitation names them: 32 hex digits of
    HMAC-SHA256 of the personal id under ``LGSP_ONESTOP_PSEUDONYM_KEY`` (a
    demo key without it; a real one-stop-shop keeps its own). The same
    citizen has the same reference, and nobody without the key can tell
    whose it is."""
    env = os.environ if env is None else env
    key = env.get("LGSP_ONESTOP_PSEUDONYM_KEY") or DEMO_PSEUDONYM_KEY
    return hmac.new(key.encode(), so_dinh_danh.encode(), hashlib.sha256).hexdigest()[:32]


def _invitation(dossier: Dossier, step: Step, env: Mapping[str, str]) -> LoiMoiKhaoSat:
    return LoiMoiKhaoSat(
        maHoSo=dossier.ma_ho_so,
        maTTHC=dossier.ma_tthc,
        maDonVi=dossier.ma_ho_so.split("-", 1)[0],
        thamChieuCongDan=citizen_reference(dossier.applicant.soDinhDanh, env),
        thoiDiem=step.at,
    )


async def _announce(dossier: Dossier, ctx: Context) -> None:
    """Publish the steps of a dossier not published yet, oldest first (and
    for a returned result, the survey invitation). A step is kept before it
    is announced: if publishing fails, the caller gets an error, and asking
    again announces it."""
    previous: TrangThaiHoSo | None = None
    for step in dossier.steps:
        if not step.announced:
            await ctx.publish(
                STATUS_TOPIC,
                SuKienTrangThaiHoSo(
                    maHoSo=dossier.ma_ho_so,
                    maTTHC=dossier.ma_tthc,
                    trangThaiCu=previous,
                    trangThai=step.status,
                    thoiDiem=step.at,
                    ghiChu=step.note,
                ),
            )
            if step.status == RETURNED:
                await ctx.publish(INVITED_TOPIC, _invitation(dossier, step, ctx.adapter.env))
            step.announced = True
        previous = step.status


@adapter.service("onestop.dossier.submit", version=1)
async def dossier_submit(request: YeuCauNopHoSo, ctx: Context) -> BienNhanHoSo:
    """``onestop.dossier.submit`` v1."""
    # The national code without any agency suffix ("1.013831.H20").
    procedure = PROCEDURES.get(request.maTTHC[:8])
    if procedure is None:
        raise DomainError(UNKNOWN_PROCEDURE, f"the one-stop-shop has no procedure {request.maTTHC}")
    now = _now()
    received = (request.ngayTiepNhan or now).astimezone(VN_TZ)
    if received > now + _CLOCK_SKEW:
        raise DomainError(REJECTED, "ngayTiepNhan is in the future")
    if procedure.can_thua_dat and request.thuaDat is None:
        raise DomainError(REJECTED, f"procedure {procedure.ma_tthc} needs the parcel (thuaDat)")

    dossier = book(ctx.adapter).receive(request, procedure, received)
    await _announce(dossier, ctx)
    log.info(
        "dossier.received",
        request_id=ctx.request_id,
        client=ctx.client,
        ma_ho_so=dossier.ma_ho_so,
        ma_tthc=procedure.ma_tthc,
        due=dossier.due.isoformat(),
    )
    return BienNhanHoSo(
        maHoSo=dossier.ma_ho_so,
        maTTHC=dossier.ma_tthc,
        tenTTHC=procedure.ten_tthc,
        ngayTiepNhan=dossier.received,
        ngayHenTra=dossier.due,
        trangThai=DA_TIEP_NHAN,
    )


@adapter.service("onestop.dossier.status", version=1)
async def dossier_status(request: YeuCauTraCuuHoSo, ctx: Context) -> HoSo:
    """``onestop.dossier.status`` v1."""
    dossier = book(ctx.adapter).get(request.maHoSo)
    log.info(
        "dossier.status",
        request_id=ctx.request_id,
        client=ctx.client,
        ma_ho_so=request.maHoSo,
        found=dossier is not None,
    )
    if dossier is None:
        raise DomainError(NOT_FOUND, "the one-stop-shop has no such dossier")
    return dossier.snapshot()


@adapter.service("onestop.dossier.update-status", version=1)
async def dossier_update_status(request: YeuCauCapNhatTrangThai, ctx: Context) -> HoSo:
    """``onestop.dossier.update-status`` v1."""
    fields = {"request_id": ctx.request_id, "client": ctx.client, "ma_ho_so": request.maHoSo}
    try:
        dossier = book(ctx.adapter).advance(
            request.maHoSo,
            request.trangThai,
            at=request.thoiDiem,
            note=request.ghiChu,
            now=_now(),
        )
    except DomainError as exc:
        log.info("dossier.step_refused", code=exc.code, trang_thai=request.trangThai, **fields)
        raise
    await _announce(dossier, ctx)
    log.info("dossier.step", trang_thai=dossier.status, **fields)
    return dossier.snapshot()


def _procedure(procedure: ThuTuc) -> ThongTinThuTuc:
    return ThongTinThuTuc(
        maTTHC=procedure.ma_tthc,
        tenTTHC=procedure.ten_tthc,
        linhVuc=procedure.linh_vuc,
        soNgayXuLy=procedure.so_ngay_xu_ly,
        canThuaDat=procedure.can_thua_dat,
    )


@adapter.service("onestop.procedure.list", version=1)
async def procedure_list(request: YeuCauDanhSachThuTuc, ctx: Context) -> DanhSachThuTuc:
    """``onestop.procedure.list`` v1: the procedures by code, of one field if asked."""
    found = [
        _procedure(PROCEDURES[code])
        for code in sorted(PROCEDURES)
        if request.linhVuc in (None, PROCEDURES[code].linh_vuc)
    ]
    log.debug(
        "procedure.list",
        request_id=ctx.request_id,
        client=ctx.client,
        linh_vuc=request.linhVuc,
        returned=len(found),
    )
    return DanhSachThuTuc(danhSach=found)


@adapter.service("onestop.dossier.list", version=1)
async def dossier_list(request: YeuCauDanhSachHoSo, ctx: Context) -> DanhSachHoSo:
    """``onestop.dossier.list`` v1: a page of the dossiers changed since a
    time; ``khoaTiepTheo`` is the page's last number while more follow."""
    page, more = book(ctx.adapter).changed(
        since=request.capNhatTu, after=request.sauMaHoSo, limit=request.soBanGhi
    )
    log.info(
        "dossier.list",
        request_id=ctx.request_id,
        client=ctx.client,
        sau_ma_ho_so=request.sauMaHoSo,
        returned=len(page),
        more=more,
    )
    return DanhSachHoSo(
        danhSach=[d.snapshot() for d in page],
        khoaTiepTheo=page[-1].ma_ho_so if page and more else None,
    )
