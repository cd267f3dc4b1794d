"""Reports to NDOP (lgsp/observe/tracing/): which exchanges are reported and
with what, that an outage of NDOP loses none of them (memory or SQLite
outbox, across a restart), and that the request path never waits for NDOP.

NDOP is the simulated one (``lgsp_adapters.ndxp.ndop``, mounted on a
platform holding the NDXP simulator, as NDXP mounts it, on 127.0.0.1): it
keeps each report once by ``trace_id`` and refuses what it cannot read, so
these tests also hold the reporter to what NDOP takes. In front of it, the
test can refuse connections, fail or stall. The contracts' ``subject`` and
``purpose`` paths are checked here too."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from lgsp.catalogue.registry import Registry
from lgsp.config import NetworkConfig, Settings, demo_clients, demo_partners
from lgsp.hub import Hub
from lgsp.observe.record import ExchangeRecord
from lgsp.observe.tracing import OUTBOX_FILE, TraceReporter
from lgsp_adapters.ndxp import NdxpClient, Simulator, SimulatorConfig
from lgsp_adapters.ndxp import auth as ndxp_auth
from lgsp_adapters.ndxp import ndop as ndop_app
from lgsp_adapters.ndxp.ndop import NDOP
from lgsp_adapters.ndxp.ndop import Ndop as NdopState
from lgsp_adapters.ndxp.simulator import SIMULATOR
from lgsp_contracts.onestop import DOSSIER_SUBMIT_V1
from lgsp_contracts.population import CITIZEN_LOOKUP_V1
from lgsp_contracts.spec import Catalogue
from tests.support.waiting import eventually

HUNG = "087090001234"
HONG = "087192004321"
NOW = 1_795_000_000.0
DESCRIPTIONS = {c.id: c.description for c in demo_clients("dongthap")}

Mode = Literal["ok", "fail", "stall"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROVINCES = ("dongthap", "phutho")


class Ndop:
    """The simulated NDOP, its real sub-application mounted on a platform
    holding the NDXP simulator (whose ``/token`` issues the LGSPs' tokens),
    as the simulated NDXP mounts it. Its socket is bound at once but listens
    only from :meth:`listen` on (before: connections refused, as from a
    platform that is down); in front of the trace route, a middleware makes
    it fail (500) or stall on request and counts what it answered."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.mode: Mode = "ok"
        self.posts = 0
        self.answered = 0
        self.duplicates = 0
        self.release = asyncio.Event()
        clients = {
            f"{p}.lgsp": NdxpClient(f"{p}-lgsp-secret", frozenset({"ndop"}), province=p)
            for p in PROVINCES
        }
        self.simulator = Simulator(SimulatorConfig(port=0, clients=clients))
        self.sub = ndop_app.create_app(_no_population, simulator=self.simulator)
        self._runner: web.AppRunner | None = None

    async def listen(self) -> None:
        app = web.Application(middlewares=[self._front])
        app[SIMULATOR] = self.simulator
        app.router.add_post("/token", ndxp_auth.token)
        app.add_subapp("/ndop", self.sub)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.SockSite(self._runner, self.sock).start()

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
        self.sock.close()

    def network(self, province: str) -> NetworkConfig:
        return NetworkConfig.model_validate(
            {
                "hub_url": f"{self.base}/lgsp",
                "token_url": f"{self.base}/token",
                "trace_url": f"{self.base}/ndop/v1/traces",
                "client_id": f"{province}.lgsp",
                "client_secret": f"{province}-lgsp-secret",
            }
        )

    @web.middleware
    async def _front(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/ndop/v1/traces":
            return await handler(request)
        self.posts += 1
        try:
            if self.mode == "fail":
                return web.json_response({"error": "down for maintenance"}, status=500)
            if self.mode == "stall":
                await self.release.wait()
            response = await handler(request)
            if isinstance(response, web.Response) and response.status == 200:
                assert isinstance(response.body, bytes)
                self.duplicates += orjson.loads(response.body)["duplicates"]
            return response
        finally:
            self.answered += 1

    async def kept(self) -> int:
        """Reports NDOP keeps (each once, by trace id)."""
        return await self.ndop.store.count()

    async def of(self, request_id: str) -> list[dict[str, Any]]:
        """NDOP's reports of one request."""
        return [t.model_dump() for t in await self.ndop.store.request(request_id)]

    async def holds(self, *request_ids: str) -> bool:
        """True when NDOP keeps one report of each request, and no other."""
        found = [len(await self.of(r)) for r in request_ids]
        return found == [1] * len(request_ids) and await self.kept() == len(request_ids)

    @property
    def ndop(self) -> NdopState:
        return self.sub[NDOP]


async def _no_population(so_dinh_danh: str) -> dt.date | None:
    """The tracker's proof, unused here: no citizen asks."""
    return None


@pytest.fixture
async def ndop() -> AsyncIterator[Ndop]:
    server = Ndop()
    yield server
    await server.close()


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_entry_points()


class Reporters:
    """Makes reporters against one NDOP and closes them (and their hubs)."""

    def __init__(self, ndop: Ndop, registry: Registry) -> None:
        self.ndop, self.registry = ndop, registry
        self._made: list[tuple[TraceReporter, Hub]] = []

    async def start(
        self, *, data_dir: Path | None = None, province: str = "dongthap", **options: Any
    ) -> TraceReporter:
        settings = Settings(
            province=province,
            partners=demo_partners(province),
            network=self.ndop.network(province),
            data_dir=data_dir,
        )
        assert settings.network is not None
        hub = Hub(settings.network)
        reporter = TraceReporter(
            settings,
            self.registry,
            hub,
            lambda client: DESCRIPTIONS.get(client, ""),
            interval=options.pop("interval", 0.02),
            backoff_max_s=options.pop("backoff_max_s", 0.1),
            **options,
        )
        await reporter.start()
        self._made.append((reporter, hub))
        return reporter

    async def close(self) -> None:
        for reporter, hub in self._made:
            await reporter.close()
            await hub.close()


@pytest.fixture
async def reporters(ndop: Ndop, registry: Registry) -> AsyncIterator[Reporters]:
    made = Reporters(ndop, registry)
    yield made
    await made.close()


def _lookup(n: int, subject: str = HUNG, **overrides: Any) -> ExchangeRecord:
    body = {"maYeuCau": f"r-{n}", "maDVC": "1.004873", "maCanBo": "cb01", "soDinhDanh": subject}
    values: dict[str, Any] = {
        "kind": "service",
        "request_id": f"req-{n}",
        "received": NOW + n,
        "client": "dongthap.land",
        "name": "population.citizen.lookup",
        "version": 1,
        "sent": NOW + n + 0.001,
        "answered": NOW + n + 0.0125,
        "status": 200,
        "request": orjson.dumps(body),
        "response": b"{}",
    }
    values.update(overrides)
    return ExchangeRecord(**values)


def _submit(n: int, **overrides: Any) -> ExchangeRecord:
    body = {"maTTHC": "1.004873", "chuHoSo": {"soDinhDanh": HONG, "hoVaTen": "Lê Thị Hồng"}}
    values: dict[str, Any] = {
        "client": "dongthap.onestop",
        "name": "onestop.dossier.submit",
        "request": orjson.dumps(body),
    }
    values.update(overrides)
    return _lookup(n, **values)


def _count(outcome: str, province: str = "dongthap") -> float:
    value = REGISTRY.get_sample_value(
        "lgsp_ndop_reports_total", {"province": province, "outcome": outcome}
    )
    return value or 0.0


# -- the contracts say which exchanges are personal data ----------------------


def test_the_services_about_a_citizen_name_their_subject(registry: Registry) -> None:
    named = {
        (c.service, c.subject, c.purpose)
        for versions in registry.services.values()
        for c in versions
        if c.subject is not None
    }
    assert named >= {
        ("population.citizen.lookup", "soDinhDanh", "maDVC"),
        ("population.citizen.verify", "soDinhDanh", "maDVC"),
        ("land.parcel.search", "soDinhDanh", None),
        ("onestop.dossier.submit", "chuHoSo.soDinhDanh", "maTTHC"),
        ("dvcqg.dossier.sync", "chuHoSo.soDinhDanh", "maTTHC"),
    }
    # A parcel looked up by its number names no citizen in its request.
    assert registry.service("land.parcel.lookup").subject is None


@pytest.mark.parametrize(
    ("subject", "purpose", "message"),
    [
        ("soDinhDanhh", None, "subject 'soDinhDanhh' is not a text field"),
        ("soDinhDanh", "maDVCC", "purpose 'maDVCC' is not a text field"),
        ("soDinhDanh.so", None, "is not a text field"),
        (None, "maDVC", "a purpose needs a subject"),
    ],
)
def test_a_subject_or_purpose_that_is_not_a_request_field_fails_at_import(
    subject: str | None, purpose: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(CITIZEN_LOOKUP_V1, subject=subject, purpose=purpose)


def test_a_subject_must_lead_to_text_not_to_a_nested_model() -> None:
    with pytest.raises(ValueError, match="'chuHoSo' is not a text field"):
        dataclasses.replace(DOSSIER_SUBMIT_V1, subject="chuHoSo")


def test_subject_and_purpose_leave_fingerprints_unchanged(registry: Registry) -> None:
    """A published version never changes: saying how the bus treats an
    exchange is not a change of what travels."""
    plain = Catalogue(
        services=tuple(
            dataclasses.replace(c, subject=None, purpose=None)
            for versions in registry.services.values()
            for c in versions
        )
    )
    assert Registry([plain]).fingerprints == registry.fingerprints


# -- what is reported -----------------------------------------------------------


async def test_a_lookup_is_reported_with_who_asked_why_about_whom(
    ndop: Ndop, reporters: Reporters
) -> None:
    await ndop.listen()
    reporter = await reporters.start()
    reporter.record(_lookup(1))
    await eventually(lambda: ndop.holds("req-1"), "NDOP has the lookup's report")
    (trace,) = await ndop.of("req-1")
    assert len(trace.pop("trace_id")) == 32
    assert trace.pop("at") == datetime.fromtimestamp(NOW + 1, UTC)
    assert trace == {
        "request_id": "req-1",
        "reporter": "dongthap",
        "role": "requester",
        "client": "dongthap.land",
        "agency": "Đồng Tháp land registration office",
        "origin": "dongthap",
        "target": "dongthap",
        "service": "population.citizen.lookup",
        "version": 1,
        "purpose": "1.004873",
        "subject": HUNG,
        "status": 200,
        "duration_ms": 12.5,
    }
    await eventually(lambda: reporter.status().queued == 0, "the outbox is empty")
    assert reporter.status().sent == 1
    assert reporter.status().last_error is None


async def test_a_dossier_names_its_applicant_nested_and_its_procedure(
    ndop: Ndop, reporters: Reporters
) -> None:
    await ndop.listen()
    reporter = await reporters.start()
    # A dossier refused at the counter is an exchange about her too.
    reporter.record(_submit(2, status=422, code="onestop.dossier.rejected"))
    await eventually(lambda: ndop.holds("req-2"), "NDOP has the dossier's report")
    (trace,) = await ndop.of("req-2")
    assert trace["subject"] == HONG
    assert trace["purpose"] == "1.004873"
    assert trace["service"] == "onestop.dossier.submit"
    assert trace["client"] == "dongthap.onestop"
    assert trace["agency"] == "Đồng Tháp one-stop-shop (một cửa điện tử)"
    assert trace["status"] == 422


async def test_calls_between_provinces_name_both_sides(ndop: Ndop, reporters: Reporters) -> None:
    await ndop.listen()
    reporter = await reporters.start()
    search = orjson.dumps({"soDinhDanh": HUNG})
    # Đồng Tháp's one-stop-shop searches Gia Lai's land database...
    reporter.record(
        _lookup(
            3,
            client="dongthap.onestop",
            name="land.parcel.search",
            request=search,
            target="gialai",
        )
    )
    # ...and Gia Lai's one-stop-shop searches Đồng Tháp's, through NDXP.
    reporter.record(
        _lookup(
            4,
            client="ndxp.national",
            name="land.parcel.search",
            request=search,
            origin="gialai",
            origin_client="gialai.onestop",
            status=403,
            code="auth.forbidden",
        )
    )
    await eventually(lambda: ndop.holds("req-3", "req-4"), "NDOP has both reports")
    ((asked,), (served,)) = await ndop.of("req-3"), await ndop.of("req-4")
    assert (asked["role"], asked["origin"], asked["target"]) == ("requester", "dongthap", "gialai")
    assert asked["purpose"] is None  # land.parcel.search names no procedure
    assert (served["role"], served["origin"], served["target"]) == (
        "provider",
        "gialai",
        "dongthap",
    )
    # Gia Lai's client is known here by its id only.
    assert (served["client"], served["agency"]) == ("gialai.onestop", "gialai.onestop")
    assert served["status"] == 403


async def test_what_is_not_an_exchange_of_personal_data_is_not_reported(
    ndop: Ndop, reporters: Reporters
) -> None:
    await ndop.listen()
    reporter = await reporters.start()
    for record in (
        _lookup(10, name="land.parcel.lookup"),  # names no citizen
        _lookup(11, client="-", status=401, code="auth.unauthenticated"),  # nobody's call
        _lookup(12, kind="event"),
        _lookup(13, request=b"{not json"),
        _lookup(14, request=b"[1, 2]"),
        _lookup(15, request=b""),  # refused before its body was read
        _lookup(16, subject="08709000123"),  # 11 digits
        _lookup(17, request=orjson.dumps({"soDinhDanh": 87090001234})),
        _submit(18, request=orjson.dumps({"maTTHC": "1.004873", "chuHoSo": HUNG})),
        _lookup(19, name="population.citizen.lookup", version=9),  # no such version
    ):
        reporter.record(record)  # never raises, whatever the body
    # Recorded last, so sent last: once it is at NDOP, the others were decided.
    reporter.record(_lookup(20))
    await eventually(lambda: ndop.answered == 1 and ndop.posts == 1, "NDOP answered")
    assert await ndop.holds("req-20")


async def test_nothing_is_reported_without_ndop_s_endpoint(registry: Registry) -> None:
    reporter = TraceReporter(Settings(), registry, None, lambda client: "")
    await reporter.start()
    reporter.record(_lookup(1))
    assert dataclasses.asdict(reporter.status()) == {
        "enabled": False,
        "queued": 0,
        "sent": 0,
        "dropped": 0,
        "send_failures": 0,
        "last_error": None,
        "oldest_queued_age_s": None,
    }
    await reporter.close()


# -- NDOP down, stalled, restarted --------------------------------------------------


async def test_nothing_is_lost_while_ndop_is_down(ndop: Ndop, reporters: Reporters) -> None:
    sent_before = _count("sent")
    reporter = await reporters.start()
    for n in range(1, 4):
        reporter.record(_lookup(n))
    # Not listening: connections are refused, and retried.
    await eventually(lambda: reporter.status().send_failures >= 2, "attempts failed")
    status = reporter.status()
    assert status.queued == 3
    assert status.last_error is not None
    assert status.last_error.startswith("NDOP unreachable")
    assert status.oldest_queued_age_s is not None
    assert status.oldest_queued_age_s >= 0
    # Then up but failing: still nothing lost.
    ndop.mode = "fail"
    await ndop.listen()
    await eventually(lambda: ndop.posts >= 2, "NDOP answered 500 twice")
    assert reporter.status().last_error == "NDOP answered 500"
    assert await ndop.kept() == 0
    ndop.mode = "ok"
    await eventually(lambda: ndop.holds("req-1", "req-2", "req-3"), "every report reaches NDOP")
    assert ndop.duplicates == 0
    await eventually(lambda: reporter.status().queued == 0, "the outbox is empty")
    assert reporter.status().last_error is None
    assert _count("sent") - sent_before == 3


async def test_the_request_path_never_waits_for_ndop(ndop: Ndop, reporters: Reporters) -> None:
    ndop.mode = "stall"
    await ndop.listen()
    reporter = await reporters.start()
    reporter.record(_lookup(0))
    await eventually(lambda: ndop.posts == 1, "a batch is stuck at NDOP")
    started = time.perf_counter()
    for n in range(1, 1201):
        reporter.record(_lookup(n))
    # Appending to a list: nothing on the request path waits for NDOP or a file.
    assert time.perf_counter() - started < 0.5
    await eventually(lambda: reporter.status().queued == 1201, "everything is queued")
    ndop.release.set()
    # Empty only once NDOP has accepted the last batch.
    await eventually(lambda: reporter.status().queued == 0, "every report reaches NDOP")
    assert await ndop.kept() == 1201
    assert ndop.duplicates == 0
    # In batches of at most 500, not one POST per exchange.
    assert ndop.posts <= 1 + 3 + 2


async def test_a_full_memory_outbox_drops_new_reports_and_counts_them(
    ndop: Ndop, reporters: Reporters
) -> None:
    dropped_before = _count("dropped", "phutho")
    reporter = await reporters.start(province="phutho", memory_limit=2)
    for n in range(1, 6):
        reporter.record(_lookup(n))
    await eventually(lambda: reporter.status().dropped == 3, "three reports dropped")
    assert reporter.status().queued == 2
    assert _count("dropped", "phutho") - dropped_before == 3
    await ndop.listen()
    await eventually(lambda: ndop.holds("req-1", "req-2"), "the two kept reach NDOP")


async def test_an_sqlite_outbox_keeps_unsent_reports_across_a_restart(
    ndop: Ndop, reporters: Reporters, tmp_path: Path
) -> None:
    first = await reporters.start(data_dir=tmp_path)
    first.record(_lookup(1))
    first.record(_submit(2))
    await eventually(lambda: first.status().send_failures >= 1, "NDOP is down")
    await first.close()
    outbox = tmp_path / OUTBOX_FILE
    assert stat.S_IMODE(os.stat(outbox).st_mode) == 0o600  # it holds personal ids
    await ndop.listen()
    second = await reporters.start(data_dir=tmp_path)
    assert second.status().queued == 2
    await eventually(lambda: ndop.holds("req-1", "req-2"), "the first run's reports arrive")
    await eventually(lambda: second.status().queued == 0, "the outbox is empty")


async def test_closing_while_ndop_stalls_is_bounded_and_a_resent_report_counts_once(
    ndop: Ndop, reporters: Reporters, tmp_path: Path
) -> None:
    ndop.mode = "stall"
    await ndop.listen()
    first = await reporters.start(data_dir=tmp_path)
    first.record(_lookup(1))
    await eventually(lambda: ndop.posts == 1, "the report is stuck at NDOP")
    started = time.monotonic()
    await first.close()
    assert time.monotonic() - started < 5
    # NDOP had it (closing even tried once more), but no answer came back in
    # time: it is still in the outbox, and sent again at the next start.
    ndop.release.set()
    await eventually(lambda: ndop.answered == ndop.posts, "NDOP got to the stalled batches")
    ndop.mode = "ok"
    posts = ndop.posts
    second = await reporters.start(data_dir=tmp_path)
    await eventually(lambda: second.status().queued == 0, "the outbox is empty")
    assert ndop.posts == posts + 1
    # However often it arrived, NDOP keeps it once.
    assert await ndop.holds("req-1")
