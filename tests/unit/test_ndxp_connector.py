"""The NDXP connector on a memory transport, against a running simulated NDXP:
every example is real through NDXP (population statistics too), the token
is renewed before it expires and on a 401, transient failures are retried
within the deadline, the deadline is honoured, the circuit breaker opens and
closes, and the portal sync is idempotent. Time the connector reads (token expiry, the breaker)
comes from a fake clock: no test sleeps to make timing work."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client import REGISTRY

from lgsp import Envelope, Registry, Reply
from lgsp.transport.memory import MemoryTransport
from lgsp_adapters import dataset
from lgsp_adapters.ndxp import Faults, Simulator, SimulatorConfig, connector, running
from lgsp_adapters.ndxp.connector import Settings
from lgsp_contracts import CATALOGUE
from lgsp_contracts.dvcqg import DOSSIER_SYNC_V1
from lgsp_contracts.population import CITIZEN_LOOKUP_V1, COMMUNE_STATISTICS_V1
from lgsp_contracts.spec import Example

REGISTRY_ = Registry([CATALOGUE])
SERVED = {
    "population.citizen.lookup",
    "population.citizen.verify",
    "population.commune.statistics",
    "dvcqg.dossier.sync",
}
EXAMPLES = [
    pytest.param(s.service, e, id=f"{s.service}-v{s.version}-{i}")
    for s in CATALOGUE.services
    if s.service in SERVED
    for i, e in enumerate(s.examples)
]
LOOKUP = CITIZEN_LOOKUP_V1.examples[0]
SYNC = DOSSIER_SYNC_V1.examples[0].request
OPEN_S = 5.0
"""Seconds the circuit stays open (on the fake clock)."""


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
async def sim() -> AsyncIterator[Simulator]:
    async with running(SimulatorConfig(port=0, token_ttl_s=2, seed=11)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
async def bus(sim: Simulator) -> AsyncIterator[MemoryTransport]:
    transport = MemoryTransport()
    await transport.start()
    await connector.adapter.start(transport, REGISTRY_)
    yield transport
    await transport.close()
    await connector.aclose()


@pytest.fixture(autouse=True)
async def clock(sim: Simulator) -> FakeClock:
    """A healthy NDXP with an empty portal, and a fresh connector pointed at
    it: tiny backoffs, a breaker opening after 3 failures."""
    await sim.set_faults(Faults())
    sim.dossiers.clear()
    fake = FakeClock()
    connector.configure(
        Settings(),
        url=sim.url,
        attempts=3,
        backoff_s=0.001,
        backoff_max_s=0.005,
        jitter_s=0.001,
        breaker_failures=3,
        breaker_open_s=OPEN_S,
        clock=fake,
    )
    return fake


async def call(
    bus: MemoryTransport, service: str, body: dict[str, Any], *, timeout: float = 5.0
) -> Reply:
    return await bus.request(
        Envelope(
            request_id=uuid.uuid4().hex,
            client="dongthap.onestop",
            service=service,
            version=1,
            deadline=time.time() + timeout,
            body=orjson.dumps(body),
        )
    )


def answer(reply: Reply) -> Any:
    return orjson.loads(reply.body)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def breaker_state() -> float:
    return metric("lgsp_ndxp_breaker_state")


def lookup_metric(outcome: str) -> float:
    return metric("lgsp_ndxp_requests_total", operation="citizen_lookup", outcome=outcome)


# -- the examples, through NDXP ---------------------------------------------


@pytest.mark.parametrize(("service", "example"), EXAMPLES)
async def test_every_example_is_real_through_ndxp(
    bus: MemoryTransport, service: str, example: Example
) -> None:
    for _ in range(2):  # and repeatable
        reply = await call(bus, service, example.request)
        assert reply.status == 200, reply.body
        assert answer(reply) == example.response


@pytest.mark.parametrize(
    ("service", "changes"),
    [
        ("population.citizen.lookup", {"soDinhDanh": "087090999999"}),
        ("population.citizen.lookup", {"hoVaTen": "Nguyễn Văn Hưng"}),
        ("population.citizen.lookup", {"ngayThangNam": "1990-05-18"}),
        ("population.citizen.verify", {"soDinhDanh": "087090999999"}),
    ],
)
async def test_record_not_found_is_the_declared_404(
    bus: MemoryTransport, service: str, changes: dict[str, str]
) -> None:
    example = next(s for s in CATALOGUE.services if s.service == service).examples[0]
    before = metric(
        "lgsp_ndxp_requests_total",
        operation=service.split(".", 1)[1].replace(".", "_"),
        outcome="not_found",
    )
    reply = await call(bus, service, {**example.request, **changes})
    assert reply.status == 404
    assert answer(reply)["code"] == "population.citizen.not_found"
    assert (
        metric(
            "lgsp_ndxp_requests_total",
            operation=service.split(".", 1)[1].replace(".", "_"),
            outcome="not_found",
        )
        == before + 1
    )


async def test_verification_never_answers_the_record(bus: MemoryTransport) -> None:
    verify = next(s for s in CATALOGUE.services if s.service == "population.citizen.verify")
    for example in verify.examples:
        assert set(answer(await call(bus, verify.service, example.request))) == {
            "khop",
            "truongKhongKhop",
        }


STATISTICS = "population.commune.statistics"
STATISTICS_ASK = COMMUNE_STATISTICS_V1.examples[0].request


def statistics_metric(outcome: str) -> float:
    return metric("lgsp_ndxp_requests_total", operation="commune_statistics", outcome=outcome)


async def test_an_unknown_commune_is_the_declared_404(bus: MemoryTransport) -> None:
    before = statistics_metric("not_found")
    reply = await call(bus, STATISTICS, {**STATISTICS_ASK, "maXa": "99999"})
    assert reply.status == 404
    assert answer(reply)["code"] == "population.commune.unknown"
    assert statistics_metric("not_found") == before + 1


async def test_statistics_of_every_commune_sum_to_the_population(bus: MemoryTransport) -> None:
    ask = {k: v for k, v in STATISTICS_ASK.items() if k != "maXa"}
    reply = await call(bus, STATISTICS, ask)
    assert reply.status == 200
    cells = answer(reply)["danhSach"]
    assert sum(c["soNguoi"] for c in cells) == (await dataset.ademo()).citizen_count
    order = [(c["maXa"], c["nhomTuoi"] == "80+", c["nhomTuoi"], c["gioiTinh"]) for c in cells]
    assert order == sorted(order)  # by commune, age group (80+ last), gender
    one = [c for c in cells if c["maXa"] == STATISTICS_ASK["maXa"]]
    assert one == COMMUNE_STATISTICS_V1.examples[0].response["danhSach"]


async def test_statistics_are_retried_through_errors(bus: MemoryTransport, sim: Simulator) -> None:
    assert (await call(bus, STATISTICS, STATISTICS_ASK)).status == 200  # a token first
    retries = metric("lgsp_ndxp_retries_total", operation="commune_statistics")
    asked = sim.calls["ThongKeDanSo"]
    await sim.set_faults(Faults(fail_next=2))
    reply = await call(bus, STATISTICS, STATISTICS_ASK, timeout=2.0)
    assert reply.status == 200
    assert answer(reply) == COMMUNE_STATISTICS_V1.examples[0].response
    assert sim.calls["ThongKeDanSo"] == asked + 3
    assert metric("lgsp_ndxp_retries_total", operation="commune_statistics") == retries + 2


async def test_statistics_give_up_with_503_and_honour_the_deadline(
    bus: MemoryTransport, sim: Simulator
) -> None:
    unavailable, timeouts = statistics_metric("unavailable"), statistics_metric("timeout")
    await sim.set_faults(Faults(error_rate=1.0))
    reply = await call(bus, STATISTICS, STATISTICS_ASK)
    assert reply.status == 503
    assert answer(reply)["code"] == "service.unavailable"
    assert statistics_metric("unavailable") == unavailable + 1
    connector.configure()  # the three failures opened the circuit: start afresh
    await sim.set_faults(Faults(slow_ms=10_000))
    reply = await call(bus, STATISTICS, STATISTICS_ASK, timeout=0.3)
    assert reply.status == 504
    assert statistics_metric("timeout") == timeouts + 1


async def test_statistics_share_the_breaker(
    bus: MemoryTransport, sim: Simulator, clock: FakeClock
) -> None:
    connector.configure(attempts=1)
    await sim.set_faults(Faults(error_rate=1.0))
    for _ in range(3):
        assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 503
    calls = sim.total_calls
    reply = await call(bus, STATISTICS, STATISTICS_ASK)
    assert (reply.status, answer(reply)["retry_after"]) == (503, OPEN_S)
    assert sim.total_calls == calls  # NDXP not called while the circuit is open


# -- the token ----------------------------------------------------------------


async def test_token_is_cached_and_renewed_before_it_expires(
    bus: MemoryTransport, sim: Simulator, clock: FakeClock
) -> None:
    refreshes = metric("lgsp_ndxp_token_refreshes_total")
    tokens, refused = sim.calls["token"], sim.unauthorized
    for _ in range(3):
        assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 200
    assert metric("lgsp_ndxp_token_refreshes_total") == refreshes + 1
    # The token lives 2 s; a fifth of that before it expires, it is renewed,
    # before NDXP ever refuses it.
    clock.advance(1.5)
    assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 200
    assert metric("lgsp_ndxp_token_refreshes_total") == refreshes + 1
    clock.advance(0.2)
    assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 200
    assert metric("lgsp_ndxp_token_refreshes_total") == refreshes + 2
    assert sim.calls["token"] == tokens + 2
    assert sim.unauthorized == refused


async def test_token_is_renewed_once_on_a_401(bus: MemoryTransport, sim: Simulator) -> None:
    assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 200
    refreshes, refused = metric("lgsp_ndxp_token_refreshes_total"), sim.unauthorized
    sim.expire_tokens()
    reply = await call(bus, LOOKUP_SERVICE, LOOKUP.request)
    assert reply.status == 200
    assert answer(reply) == LOOKUP.response
    assert sim.unauthorized == refused + 1
    assert metric("lgsp_ndxp_token_refreshes_total") == refreshes + 1


async def test_credentials_ndxp_refuses_are_not_retried(
    bus: MemoryTransport, sim: Simulator
) -> None:
    connector.configure(client_secret="not-the-secret")
    tokens = sim.calls["token"]
    reply = await call(bus, LOOKUP_SERVICE, LOOKUP.request)
    assert reply.status == 503
    assert answer(reply)["retry_after"] == 60
    assert sim.calls["token"] == tokens + 1


# -- retries, deadlines, the breaker -----------------------------------------


async def test_injected_errors_are_retried_within_the_deadline(
    bus: MemoryTransport, sim: Simulator
) -> None:
    assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 200  # a token first
    retries = metric("lgsp_ndxp_retries_total", operation="citizen_lookup")
    lookups = sim.calls["TraCuuThongTinCongDan"]
    await sim.set_faults(Faults(fail_next=2))
    reply = await call(bus, LOOKUP_SERVICE, LOOKUP.request, timeout=2.0)
    assert reply.status == 200
    assert answer(reply) == LOOKUP.response
    assert sim.calls["TraCuuThongTinCongDan"] == lookups + 3
    assert metric("lgsp_ndxp_retries_total", operation="citizen_lookup") == retries + 2


async def test_retries_give_up_with_503_and_retry_after(
    bus: MemoryTransport, sim: Simulator
) -> None:
    assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 200
    lookups, unavailable = sim.calls["TraCuuThongTinCongDan"], lookup_metric("unavailable")
    await sim.set_faults(Faults(error_rate=1.0))
    reply = await call(bus, LOOKUP_SERVICE, LOOKUP.request)
    assert reply.status == 503
    assert answer(reply)["code"] == "service.unavailable"
    assert answer(reply)["retry_after"] >= 1
    assert sim.calls["TraCuuThongTinCongDan"] == lookups + 3  # attempts
    assert lookup_metric("unavailable") == unavailable + 1


async def test_ndxp_outage_passes_its_retry_after_on(bus: MemoryTransport, sim: Simulator) -> None:
    await sim.set_faults(Faults(outage="unavailable", outage_s=7))
    reply = await call(bus, LOOKUP_SERVICE, LOOKUP.request)
    assert reply.status == 503
    assert answer(reply)["retry_after"] == 7


async def test_the_deadline_is_honoured_when_ndxp_is_slow(
    bus: MemoryTransport, sim: Simulator
) -> None:
    timeouts = lookup_metric("timeout")
    await sim.set_faults(Faults(slow_ms=10_000))
    started = time.perf_counter()
    # The connector's own 504: a Reply, before the transport gives up.
    reply = await call(bus, LOOKUP_SERVICE, LOOKUP.request, timeout=0.3)
    elapsed = time.perf_counter() - started
    assert reply.status == 504
    assert answer(reply)["code"] == "service.timeout"
    assert elapsed < 1.0
    assert lookup_metric("timeout") == timeouts + 1


async def test_a_passed_deadline_calls_nobody(bus: MemoryTransport, sim: Simulator) -> None:
    handler = bus._providers[(LOOKUP_SERVICE, 1)][0].handler
    before = sim.total_calls
    reply = await handler(
        Envelope(
            request_id="late",
            client="dongthap.onestop",
            service=LOOKUP_SERVICE,
            version=1,
            deadline=time.time() - 1,
            body=orjson.dumps(LOOKUP.request),
        )
    )
    assert reply.status == 504
    assert sim.total_calls == before


async def test_breaker_opens_then_closes_after_a_successful_probe(
    bus: MemoryTransport, sim: Simulator, clock: FakeClock
) -> None:
    connector.configure(attempts=1)
    open_before = lookup_metric("breaker_open")
    await sim.set_faults(Faults(error_rate=1.0))
    for _ in range(3):
        assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 503
    assert breaker_state() == 1
    # Open: a fast 503 with Retry-After, and NDXP is not called.
    calls = sim.total_calls
    started = time.perf_counter()
    reply = await call(bus, LOOKUP_SERVICE, LOOKUP.request)
    assert time.perf_counter() - started < 0.1
    assert reply.status == 503
    assert answer(reply)["retry_after"] == OPEN_S
    assert sim.total_calls == calls
    assert lookup_metric("breaker_open") == open_before + 1
    # Still failing when the probe goes: open again.
    clock.advance(OPEN_S)
    assert breaker_state() == 2
    assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 503
    assert sim.total_calls == calls + 1
    assert breaker_state() == 1
    # Healthy again: the next probe closes the circuit.
    await sim.set_faults(Faults())
    clock.advance(OPEN_S)
    reply = await call(bus, LOOKUP_SERVICE, LOOKUP.request)
    assert reply.status == 200
    assert answer(reply) == LOOKUP.response
    assert breaker_state() == 0


async def test_half_open_lets_one_probe_through(
    bus: MemoryTransport, sim: Simulator, clock: FakeClock
) -> None:
    connector.configure(attempts=1)
    await sim.set_faults(Faults(error_rate=1.0))
    for _ in range(3):
        await call(bus, LOOKUP_SERVICE, LOOKUP.request)
    assert breaker_state() == 1
    await sim.set_faults(Faults(latency_ms=300))
    clock.advance(OPEN_S)
    tokens = sim.calls["token"]
    probe = asyncio.create_task(call(bus, LOOKUP_SERVICE, LOOKUP.request))
    async with asyncio.timeout(5):
        await sim.called("token", tokens + 1)  # the probe has reached NDXP
    # Meanwhile, others are refused at once rather than piling up.
    others = await call(bus, LOOKUP_SERVICE, LOOKUP.request)
    assert others.status == 503
    assert answer(others)["retry_after"] == 1
    assert not probe.done()
    assert (await probe).status == 200
    assert breaker_state() == 0


async def test_connection_refused_then_back(
    bus: MemoryTransport, sim: Simulator, clock: FakeClock
) -> None:
    assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 200
    await sim.set_faults(Faults(outage="refuse", outage_s=60))
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http:
            await http.get(f"{sim.url}/healthz")
    started = time.perf_counter()
    reply = await call(bus, LOOKUP_SERVICE, LOOKUP.request)
    assert time.perf_counter() - started < 1.0
    assert reply.status == 503
    assert "unreachable" in answer(reply)["detail"]
    # Three refused attempts opened the circuit: NDXP back, the probe closes it.
    await sim.set_faults(Faults())
    assert answer(await call(bus, LOOKUP_SERVICE, LOOKUP.request))["retry_after"] == OPEN_S
    clock.advance(OPEN_S)
    assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request)).status == 200
    assert metric("lgsp_ndxp_breaker_state") == 0


# -- the portal sync ----------------------------------------------------------


async def read_back(sim: Simulator, ma_ho_so: str) -> Any:
    async with aiohttp.ClientSession() as http:
        r = await http.get(f"{sim.url}/dvcqg/hoso/{ma_ho_so}")
        assert r.status == 200
        return (await r.json())["data"]


def services(held: Any) -> list[str]:
    return [c["service"] for c in held["LichSuDongBo"]]


async def test_sync_is_idempotent_and_can_be_read_back(
    bus: MemoryTransport, sim: Simulator
) -> None:
    for _ in range(2):
        reply = await call(bus, "dvcqg.dossier.sync", SYNC)
        assert answer(reply) == {"maHoSo": SYNC["maHoSo"], "trangThai": "2", "soLanDongBo": 1}
    processing = {**SYNC, "trangThai": "4", "thoiDiem": "2025-06-06T10:15:00+07:00"}
    for _ in range(2):
        reply = await call(bus, "dvcqg.dossier.sync", processing)
        assert answer(reply) == {"maHoSo": SYNC["maHoSo"], "trangThai": "4", "soLanDongBo": 2}
    held = await read_back(sim, SYNC["maHoSo"])
    assert held["HoSo"]["NgayTiepNhan"] == "20250606093000"
    assert held["HoSo"]["NgayHenTra"] == "20250611093000"
    assert held["HoSo"]["ChuHoSo"] == "Lê Thị Hồng"
    assert held["HoSo"]["MaDoiTuong"] == "087192004321"
    assert [(s["TrangThai"], s["ThoiDiemXuLy"], s["NoiDungXuLy"]) for s in held["TienDo"]] == [
        ("2", "20250606093000", "Được tiếp nhận"),
        ("4", "20250606101500", "Đang xử lý"),
    ]


async def test_first_sync_is_dong_bo_later_ones_cap_nhat(
    bus: MemoryTransport, sim: Simulator
) -> None:
    dong_bo, cap_nhat = sim.calls["dvcqg.DongBoHoSoMC"], sim.calls["dvcqg.CapNhatTienDoHoSoMC"]
    assert (await call(bus, "dvcqg.dossier.sync", SYNC)).status == 200
    assert sim.calls["dvcqg.DongBoHoSoMC"] == dong_bo + 1
    assert sim.calls["dvcqg.CapNhatTienDoHoSoMC"] == cap_nhat + 1
    step = {**SYNC, "trangThai": "4", "thoiDiem": "2025-06-06T10:15:00+07:00"}
    assert (await call(bus, "dvcqg.dossier.sync", step)).status == 200
    assert sim.calls["dvcqg.DongBoHoSoMC"] == dong_bo + 1
    assert sim.calls["dvcqg.CapNhatTienDoHoSoMC"] == cap_nhat + 2
    held = await read_back(sim, SYNC["maHoSo"])
    assert services(held) == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC", "CapNhatTienDoHoSoMC"]
    assert held["LichSuDongBo"][0]["isUpdating"] == "False"


async def test_a_dossier_the_portal_never_saw_is_synced_whole(
    bus: MemoryTransport, sim: Simulator
) -> None:
    # E.g. the portal lost it, or the province synced before it joined: the
    # portal answers RECORD_NOT_FOUND to the step, so the dossier goes first.
    step = {
        **SYNC,
        "maHoSo": "000.00.00.H20-250606-0002",
        "trangThai": "5",
        "thoiDiem": "2025-06-07T08:00:00+07:00",
        "ghiChu": "Bổ sung bản sao giấy khai sinh",
    }
    reply = await call(bus, "dvcqg.dossier.sync", step)
    assert answer(reply) == {"maHoSo": step["maHoSo"], "trangThai": "5", "soLanDongBo": 1}
    held = await read_back(sim, step["maHoSo"])
    assert services(held) == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
    assert held["TienDo"][0]["NoiDungXuLy"] == "Bổ sung bản sao giấy khai sinh"


async def test_data_the_portal_refuses_is_the_declared_422(bus: MemoryTransport) -> None:
    early = {**SYNC, "trangThai": "4", "thoiDiem": "2025-06-01T08:00:00+07:00"}
    assert (await call(bus, "dvcqg.dossier.sync", SYNC)).status == 200
    reply = await call(bus, "dvcqg.dossier.sync", early)
    assert reply.status == 422
    assert answer(reply)["code"] == "dvcqg.dossier.rejected"
    assert "DATA_INCORRECT" in answer(reply)["detail"]


async def test_sync_logs_in_again_when_the_session_expires(
    bus: MemoryTransport, sim: Simulator
) -> None:
    assert (await call(bus, "dvcqg.dossier.sync", SYNC)).status == 200
    logins = sim.calls["dvcqg-login"]
    sim.expire_tokens()  # access tokens and portal sessions
    step = {**SYNC, "trangThai": "4", "thoiDiem": "2025-06-06T10:15:00+07:00"}
    assert answer(await call(bus, "dvcqg.dossier.sync", step))["soLanDongBo"] == 2
    assert sim.calls["dvcqg-login"] == logins + 1


async def test_sync_is_retried_through_errors(bus: MemoryTransport, sim: Simulator) -> None:
    await sim.set_faults(Faults(fail_next=2))
    reply = await call(bus, "dvcqg.dossier.sync", SYNC)
    assert answer(reply)["soLanDongBo"] == 1
    assert metric("lgsp_ndxp_retries_total", operation="dossier_sync") >= 2


# -- settings -------------------------------------------------------------------


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LGSP_NDXP_URL", raising=False)
    monkeypatch.setenv("LGSP_NDXP_PORT", "18090")
    assert Settings.from_env().url == "http://127.0.0.1:18090"
    monkeypatch.setenv("LGSP_NDXP_URL", "http://ndxp.example:8090/")
    monkeypatch.setenv("LGSP_NDXP_CLIENT_ID", "other.lgsp")
    monkeypatch.setenv("LGSP_NDXP_CLIENT_SECRET", "other-secret")
    settings = Settings.from_env()
    assert (settings.url, settings.client_id, settings.client_secret) == (
        "http://ndxp.example:8090",
        "other.lgsp",
        "other-secret",
    )
    assert Settings().client_id == "dongthap.lgsp"


LOOKUP_SERVICE = "population.citizen.lookup"


async def test_calls_cut_short_by_their_own_tiny_deadline_do_not_open_the_circuit(
    bus: MemoryTransport, sim: Simulator
) -> None:
    # One client asking for 1 ms deadlines learns nothing of NDXP's health:
    # counted, its timeouts opened the circuit for every caller.
    await sim.set_faults(Faults(slow_ms=10_000))
    for _ in range(5):  # more than the breaker's 3
        assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request, timeout=0.05)).status == 504
    assert breaker_state() == 0
    # A call given a fair time that NDXP does not answer in still counts.
    connector.configure(breaker_fair_wait_s=0.2)
    for _ in range(3):
        assert (await call(bus, LOOKUP_SERVICE, LOOKUP.request, timeout=0.3)).status == 504
    assert breaker_state() == 1
