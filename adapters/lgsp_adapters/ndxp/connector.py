"""The NDXP connector: the bus's provider of the national services the
province reaches through NDXP (adapter ``ndxp``, entry point group
``lgsp.adapters``):

- ``population.citizen.lookup`` v1 → ``TraCuuThongTinCongDan``;
- ``population.citizen.verify`` v1 → ``XacThucThongTinCongDan``;
- ``population.commune.statistics`` v1 → ``ThongKeDanSo``;
- ``ndop.access.history`` v1 → NDOP's citizens' data tracker;
- ``dvcqg.dossier.sync`` v1 → the portal's ``DongBoHoSoMC`` (a dossier's
  first sync) and ``CapNhatTienDoHoSoMC`` (each status).

It converts between the bus's contracts and NDXP's native formats
(:mod:`~lgsp_adapters.ndxp.native`) and calls NDXP through one client
(:mod:`~lgsp_adapters.ndxp.client`) per province it serves, which caches and
renews its access token, bounds every wait by the caller's deadline, retries
what is safe to retry, and has a circuit breaker answer 503 at once while
NDXP is down.

Native answers become bus answers: RECORD_NOT_FOUND → the declared 404 (no
such citizen; for statistics, no such commune), the
portal's data errors → the declared 422, NDXP down or the circuit open →
503 with ``Retry-After``, no answer before the deadline → 504.

Settings come from the environment at first use (``LGSP_NDXP_URL``, default
``http://127.0.0.1:8090`` or the port in ``LGSP_NDXP_PORT``;
``LGSP_NDXP_CLIENT_ID``/``LGSP_NDXP_CLIENT_SECRET``; the portal account
``LGSP_DVCQG_USERNAME``/``LGSP_DVCQG_PASSWORD``/``LGSP_DVCQG_MADONVI``;
who the connector is defaults to ``LGSP_PROVINCE``'s LGSP), or from
:func:`configure`. A copy of the adapter made for one province of a network
(``adapter.copy(env=...)``) has a connector of its own, made from that
province's settings: :func:`connector` gives the one of the copy whose code
runs, or of the copy it is given. The process's metrics are the module-level
adapter's connector's.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import structlog
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError

from lgsp import Adapter, Context, DomainError, ServiceTimeout, ServiceUnavailable
from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.breaker import State
from lgsp_adapters.ndxp.client import (
    RETRIES,
    TOKEN_EXPIRY,
    TOKEN_REFRESHES,
    CircuitOpen,
    Connector,
    Http,
    Operation,
    Settings,
    Transient,
)
from lgsp_adapters.ndxp.native import (
    CongDanNative,
    HoSoMC,
    KetQuaDongBoMC,
    KetQuaXacThuc,
    ThongKeDanSoNative,
    TienDoHoSoMC,
)
from lgsp_contracts.dvcqg import KetQuaDongBo, YeuCauDongBoHoSo
from lgsp_contracts.ndop import ACCESS_NOT_FOUND, LichSuTruyCap, YeuCauLichSuTruyCap
from lgsp_contracts.onestop import DA_TIEP_NHAN, TRANG_THAI_HO_SO
from lgsp_contracts.population import (
    CongDan,
    DongThongKeDanSo,
    KetQuaXacThucCongDan,
    ThongKeDanSo,
    TruongXacThuc,
    YeuCauThongKeDanSo,
    YeuCauTraCuuCongDan,
    YeuCauXacThucCongDan,
)
from lgsp_contracts.spec import Contract

__all__ = [
    # With the client's names its callers reach through the connector: its
    # settings, and its metrics (the metrics test reads them all from here).
    "BREAKER_STATE",
    "COMMUNE_UNKNOWN",
    "DURATION",
    "NOT_FOUND",
    "REJECTED",
    "REQUESTS",
    "RETRIES",
    "TOKEN_EXPIRY",
    "TOKEN_REFRESHES",
    "CircuitOpen",
    "Connector",
    "Settings",
    "aclose",
    "adapter",
    "citizen_lookup",
    "citizen_verify",
    "commune_statistics",
    "configure",
    "connector",
    "current_breaker_state",
    "dossier_sync",
    "status",
]

log = structlog.get_logger("lgsp_adapters.ndxp.connector")

adapter = Adapter(
    "ndxp",
    agency="NDXP — Nền tảng tích hợp, chia sẻ dữ liệu quốc gia (connector of the province's LGSP)",
)

NOT_FOUND: Final = "population.citizen.not_found"
COMMUNE_UNKNOWN: Final = "population.commune.unknown"
REJECTED: Final = "dvcqg.dossier.rejected"

REQUESTS = Counter(
    "lgsp_ndxp_requests_total",
    "Bus requests the connector served through NDXP, by outcome (ok, not_found, rejected, "
    "unavailable, breaker_open, timeout, failed)",
    ["operation", "outcome"],
)
DURATION = Histogram(
    "lgsp_ndxp_request_duration_seconds",
    "Time the connector took to serve a bus request through NDXP, retries included",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BREAKER_STATE = Gauge(
    "lgsp_ndxp_breaker_state", "The connector's circuit breaker: 0 closed, 1 open, 2 half-open"
)

Req = TypeVar("Req", bound=Contract)
Resp = TypeVar("Resp", bound=Contract)

@dataclasses.dataclass
class _Link:
    """One copy's way to NDXP: its HTTP session (one copy stopping closes its
    own only) and its connector, made at first use."""

    http: Http
    connector: Connector | None = None


_http = Http()
"""The module-level adapter's session (``lgsp up`` of one province, tests)."""
_link = adapter.per_copy(lambda copy: _Link(_http if copy is adapter else Http()))


def connector(copy: Adapter | None = None) -> Connector:
    """The connector of the adapter whose code runs now (or of ``copy``, a
    copy of :data:`adapter`), made from its settings at first use: for the
    module-level adapter the process's environment, for a copy its
    province's."""
    owner = adapter.running() if copy is None else copy
    link = _link(owner)
    if link.connector is None:
        configure(copy=owner)
        assert link.connector is not None
    return link.connector


def current_breaker_state() -> int:
    made = _link(adapter).connector
    return int(made.breaker.state) if made is not None else 0


def configure(
    settings: Settings | None = None, /, copy: Adapter | None = None, **changes: Any
) -> Settings:
    """Change a connector's settings (the module-level adapter's, or that of
    ``copy``): to ``settings`` when given, else the current ones (first those
    of its environment) with ``changes`` (fields of :class:`Settings`), e.g.
    to point it at a simulator on another port or to make retries fast in
    tests. Starts afresh: no token, no portal session, the circuit closed."""
    owner = adapter if copy is None else copy
    link = _link(owner)
    if settings is None:
        made = link.connector
        settings = made.settings if made is not None else Settings.from_env(owner.env)
    settings = dataclasses.replace(settings, **changes)
    link.connector = Connector(settings, link.http)
    if owner is adapter:
        # The process-wide gauges follow the module-level adapter's connector.
        BREAKER_STATE.set_function(lambda: float(current_breaker_state()))
        TOKEN_EXPIRY.set(0)
    return settings


async def aclose() -> None:
    """Close the HTTP session of the adapter (or copy) that stops (when the
    loop it runs in stops)."""
    await _link().http.close()


adapter.on_stop(aclose)


@adapter.status
def status() -> dict[str, str | int | bool]:
    """What the operators' dashboard shows of the connector: its circuit to
    NDXP and its access token (the same as its metrics, for one glance),
    of the adapter or copy whose status is read."""
    current = _link().connector
    if current is None:
        return {"healthy": True, "breaker": "closed", "token": "none yet", "tokens_obtained": 0}
    state = current.breaker.state
    return {
        "healthy": state is State.CLOSED,
        "breaker": state.name.lower().replace("_", "-"),
        "token": "held" if current.holds_token else "none yet",
        "tokens_obtained": current.tokens_obtained,
    }


# -- the bus's services --------------------------------------------------------


_OUTCOMES: Final = {
    NOT_FOUND: "not_found",
    COMMUNE_UNKNOWN: "not_found",
    ACCESS_NOT_FOUND: "not_found",
    REJECTED: "rejected",
}
_ANSWERED: Final = frozenset({"ok", *_OUTCOMES.values()})


def _measured(
    operation: Operation,
) -> Callable[
    [Callable[[Req, Context], Awaitable[Resp]]], Callable[[Req, Context], Awaitable[Resp]]
]:
    """Count the handler's outcomes and time it (``lgsp_ndxp_requests_total``,
    ``lgsp_ndxp_request_duration_seconds``)."""

    def wrap(
        fn: Callable[[Req, Context], Awaitable[Resp]],
    ) -> Callable[[Req, Context], Awaitable[Resp]]:
        @functools.wraps(fn)
        async def handler(request: Req, ctx: Context) -> Resp:
            started = time.perf_counter()
            outcome = "failed"
            try:
                response = await fn(request, ctx)
                outcome = "ok"
                return response
            except CircuitOpen:
                outcome = "breaker_open"
                raise
            except ServiceUnavailable:
                outcome = "unavailable"
                raise
            except ServiceTimeout:
                outcome = "timeout"
                raise
            except DomainError as exc:
                outcome = _OUTCOMES.get(exc.code, "rejected")
                raise
            finally:
                REQUESTS.labels(operation, outcome).inc()
                DURATION.labels(operation).observe(time.perf_counter() - started)
                # The gateway logs every exchange; here only why NDXP failed it.
                (log.debug if outcome in _ANSWERED else log.warning)(
                    "ndxp.served",
                    operation=operation,
                    outcome=outcome,
                    request_id=ctx.request_id,
                    client=ctx.client,
                )

        return handler

    return wrap


def _unexpected(answer: dict[str, Any]) -> RuntimeError:
    # The bus validated the request, so a data error here is the connector's bug.
    return RuntimeError(f"NDXP answered {answer['error_code']}: {answer.get('message')}")


@adapter.service("population.citizen.lookup", version=1)
@_measured("citizen_lookup")
async def citizen_lookup(request: YeuCauTraCuuCongDan, ctx: Context) -> CongDan:
    """``population.citizen.lookup`` v1 through ``TraCuuThongTinCongDan``."""
    body: dict[str, Any] = {
        "MaYeuCau": request.maYeuCau,
        "MaDVC": request.maDVC,
        "MaCanBo": request.maCanBo,
        "SoDinhDanh": request.soDinhDanh,
    }
    if request.hoVaTen is not None:
        body["HoVaTen"] = request.hoVaTen
    if request.ngayThangNam is not None:
        body["NgayThangNamSinh"] = native.date_out(request.ngayThangNam)
    ndxp = connector()
    # A read: safe to retry.
    answer = await ndxp.run(
        "citizen_lookup", ctx.deadline, lambda: ndxp.post(native.LOOKUP_PATH, body)
    )
    if answer["error_code"] == native.RECORD_NOT_FOUND:
        raise DomainError(
            NOT_FOUND, "no citizen matches this personal id (and name, birth date)", status=404
        )
    if answer["error_code"] != native.OK:
        raise _unexpected(answer)
    try:
        return CongDanNative.model_validate(answer.get("data")).record()
    except (ValidationError, ValueError, KeyError) as exc:
        raise RuntimeError("NDXP answered a record outside its format") from exc


_FIELDS: Final[dict[str, TruongXacThuc]] = {"HoVaTen": "hoVaTen", "NgayThangNamSinh": "ngaySinh"}


@adapter.service("population.citizen.verify", version=1)
@_measured("citizen_verify")
async def citizen_verify(request: YeuCauXacThucCongDan, ctx: Context) -> KetQuaXacThucCongDan:
    """``population.citizen.verify`` v1 through ``XacThucThongTinCongDan``."""
    body = {
        "MaYeuCau": request.maYeuCau,
        "MaDVC": request.maDVC,
        "MaCanBo": request.maCanBo,
        "SoDinhDanh": request.soDinhDanh,
        "HoVaTen": request.hoVaTen,
        "NgayThangNamSinh": native.date_out(request.ngaySinh),
    }
    ndxp = connector()
    # A read: safe to retry.
    answer = await ndxp.run(
        "citizen_verify", ctx.deadline, lambda: ndxp.post(native.VERIFY_PATH, body)
    )
    if answer["error_code"] == native.RECORD_NOT_FOUND:
        raise DomainError(NOT_FOUND, "no citizen has this personal id", status=404)
    if answer["error_code"] != native.OK:
        raise _unexpected(answer)
    try:
        result = KetQuaXacThuc.model_validate(answer.get("data"))
    except ValidationError as exc:
        raise RuntimeError("NDXP answered a verification outside its format") from exc
    return KetQuaXacThucCongDan(
        khop=result.KetQuaXacThuc, truongKhongKhop=[_FIELDS[f] for f in result.TruongKhongKhop]
    )


@adapter.service("population.commune.statistics", version=1)
@_measured("commune_statistics")
async def commune_statistics(request: YeuCauThongKeDanSo, ctx: Context) -> ThongKeDanSo:
    """``population.commune.statistics`` v1 through ``ThongKeDanSo``."""
    body: dict[str, Any] = {
        "MaYeuCau": request.maYeuCau,
        "MaDVC": request.maDVC,
        "MaCanBo": request.maCanBo,
        "NgayThongKe": native.date_out(request.ngayThongKe),
    }
    if request.maXa is not None:
        body["MaPhuongXa"] = request.maXa
    ndxp = connector()
    # A read: safe to retry.
    answer = await ndxp.run(
        "commune_statistics", ctx.deadline, lambda: ndxp.post(native.STATISTICS_PATH, body)
    )
    if answer["error_code"] == native.RECORD_NOT_FOUND:
        raise DomainError(COMMUNE_UNKNOWN, "no commune of the province has this code", status=404)
    if answer["error_code"] != native.OK:
        raise _unexpected(answer)
    try:
        result = ThongKeDanSoNative.model_validate(answer.get("data"))
        return ThongKeDanSo(
            ngayThongKe=native.date_in(result.NgayThongKe),
            danhSach=[
                DongThongKeDanSo(
                    maXa=cell.MaPhuongXa,
                    tenXa=cell.TenPhuongXa,
                    nhomTuoi=cell.NhomTuoi,
                    gioiTinh=native.GIOI_TINH[cell.GioiTinh],
                    soNguoi=cell.SoNguoi,
                )
                for cell in result.DanhSach
            ],
        )
    except (ValidationError, ValueError) as exc:
        raise RuntimeError("NDXP answered statistics outside its format") from exc


@adapter.service("ndop.access.history", version=1)
@_measured("access_history")
async def access_history(request: YeuCauLichSuTruyCap, ctx: Context) -> LichSuTruyCap:
    """``ndop.access.history`` v1: the citizens' data tracker, asked of
    NDOP (through NDXP, with this LGSP's token). A wrong birth date and an
    unknown id are one answer there, and one declared 404 here."""
    body = {"soDinhDanh": request.soDinhDanh, "ngaySinh": request.ngaySinh.isoformat()}
    ndxp = connector()
    # A read: safe to retry.
    status, raw = await ndxp.run(
        "access_history", ctx.deadline, lambda: ndxp.post_raw(native.TRACKER_PATH, body)
    )
    if status == 404:
        raise DomainError(
            ACCESS_NOT_FOUND, "no citizen matches this personal id and birth date", status=404
        )
    if status != 200:
        raise RuntimeError(f"NDOP answered {status} to a valid question")
    try:
        return LichSuTruyCap.model_validate_json(raw)
    except ValidationError as exc:
        raise RuntimeError("NDOP answered a history outside its contract") from exc


@adapter.service("dvcqg.dossier.sync", version=1)
@_measured("dossier_sync")
async def dossier_sync(request: YeuCauDongBoHoSo, ctx: Context) -> KetQuaDongBo:
    """``dvcqg.dossier.sync`` v1: ``DongBoHoSoMC`` when the portal does not hold
    the dossier yet (its first status, or the portal answers
    RECORD_NOT_FOUND), then ``CapNhatTienDoHoSoMC`` for the status."""
    try:
        # The portal writes times in Vietnam's time zone, reached through UTC:
        # at the ends of years 1-9999 (9999-12-31T23:00Z) there is no date.
        times = [native.time_out(t) for t in (request.ngayTiepNhan, request.ngayHenTra)]
        at = native.time_out(request.thoiDiem)
    except OverflowError:
        raise DomainError(
            REJECTED, "a time falls outside the years the portal can record", status=422
        ) from None
    dossier = HoSoMC(
        MaHoSo=request.maHoSo,
        MaTTHC=request.maTTHC,
        TenTTHC=request.tenTTHC,
        ChuHoSo=request.chuHoSo.hoVaTen,
        LoaiDoiTuong="1",
        MaDoiTuong=request.chuHoSo.soDinhDanh,
        NgayTiepNhan=times[0],
        NgayHenTra=times[1],
        TrangThaiHoSo=request.trangThai,
        GhiChu=request.ghiChu or "",
    )
    step = TienDoHoSoMC(
        MaHoSo=request.maHoSo,
        ThoiDiemXuLy=at,
        NoiDungXuLy=request.ghiChu or TRANG_THAI_HO_SO[request.trangThai],
        TrangThai=request.trangThai,
    )
    ndxp = connector()

    async def sync() -> KetQuaDongBoMC:
        # Safe to repeat as a whole, so retried like a read: DongBoHoSoMC is an
        # upsert of the snapshot and the portal keeps a status at a given
        # time once, however often it is sent.
        if request.trangThai == DA_TIEP_NHAN:
            _portal_ok(await ndxp.portal(native.DONG_BO, dossier, is_updating="False"))
        answer = await ndxp.portal(native.CAP_NHAT, step)
        if answer["error_code"] == native.RECORD_NOT_FOUND:
            _portal_ok(await ndxp.portal(native.DONG_BO, dossier, is_updating="False"))
            answer = await ndxp.portal(native.CAP_NHAT, step)
        _portal_ok(answer)
        try:
            return KetQuaDongBoMC.model_validate(answer["result"][0])
        except (ValidationError, KeyError, IndexError, TypeError) as exc:
            raise RuntimeError("the portal answered outside its format") from exc

    result = await ndxp.run("dossier_sync", ctx.deadline, sync)
    return KetQuaDongBo(
        maHoSo=result.MaHoSo, trangThai=result.TrangThai, soLanDongBo=result.SoTrangThai
    )


def _portal_ok(answer: dict[str, Any]) -> None:
    code = answer["error_code"]
    if code == native.PORTAL_OK:
        return
    if code in (native.DATA_TYPE_INVALID, native.DATA_INCORRECT, native.RECORD_NOT_FOUND):
        raise DomainError(REJECTED, str(answer.get("message")), status=422)
    if code == native.FAILED:
        raise Transient(f"the portal failed: {answer.get('message')}")
    raise _unexpected(answer)
