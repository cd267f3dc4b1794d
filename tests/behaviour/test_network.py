"""A network of provinces on either transport (each province its own bus;
on RabbitMQ its own virtual host), NDXP between them: the cross-province
case of the README, refusals naming the side that refused, forged origins,
and outages that stay where they are and end by themselves."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from lgsp.testing import Network
from lgsp_adapters.dataset import sample_owner
from lgsp_adapters.ndxp import Faults, Simulator
from lgsp_adapters.provinces import PROVINCES
from tests.behaviour.conftest import BROKER
from tests.support.waiting import eventually


def ndxp(network: Network) -> Simulator:
    return network.platform("ndxp-sim", Simulator)


async def exchanges_of(network: Network, province: str, request_id: str) -> list[dict[str, Any]]:
    """The records of one request in a province's exchange log."""
    bus = network[province]
    r = await bus.http.get(
        "/v1/admin/exchanges", auth=aiohttp.BasicAuth("admin", "demo-admin-secret")
    )
    assert r.status == 200
    return [e for e in (await r.json())["exchanges"] if e["request_id"] == request_id]


async def test_a_gialai_citizen_files_a_land_dossier_in_dongthap(network: Network) -> None:
    citizen = sample_owner("gialai", 64)
    dongthap = network["dongthap"]
    onestop = "dongthap.onestop"
    # Đồng Tháp knows the citizen nationally (the population database, via NDXP).
    found = await dongthap.call(
        "population.citizen.lookup",
        {"maYeuCau": "DT-1", "maDVC": "1.013831", "maCanBo": "cb01", "soDinhDanh": citizen},
        client=onestop,
    )
    assert found.status == 200, found.json
    record = found.json
    assert record["noiThuongTru"]["maTinh"] == f"{PROVINCES['gialai'].code:02d}"
    verified = await dongthap.call(
        "population.citizen.verify",
        {
            "maYeuCau": "DT-2",
            "maDVC": "1.013831",
            "maCanBo": "cb01",
            "soDinhDanh": citizen,
            "hoVaTen": record["hoVaTen"],
            "ngaySinh": record["ngaySinh"],
        },
        client=onestop,
    )
    assert verified.status == 200
    assert verified.json["khop"] is True
    # ...and asks Gia Lai's land database for their parcels there, through NDXP.
    request_id = f"dt-to-gl-{time.monotonic_ns()}"
    parcels = await dongthap.call(
        "land.parcel.search",
        {"soDinhDanh": citizen},
        client=onestop,
        headers={"X-LGSP-Province": "gialai", "X-Request-Id": request_id},
    )
    assert parcels.status == 200, parcels.json
    assert parcels.headers["X-Request-Id"] == request_id
    assert parcels.json["tongSoBanGhi"] >= 1
    gialai_communes = {c for c in _communes("gialai")}
    assert {p["maXa"] for p in parcels.json["danhSach"]} <= gialai_communes
    # The same question asked in Đồng Tháp's own land database finds nothing.
    here = await dongthap.call("land.parcel.search", {"soDinhDanh": citizen}, client=onestop)
    assert here.status == 200
    assert here.json["tongSoBanGhi"] == 0
    # One request id end to end, one record in each of the three logs.
    ours = await exchanges_of(network, "dongthap", request_id)
    theirs = await exchanges_of(network, "gialai", request_id)
    assert [(e["client"], e["name"], e["status"]) for e in ours] == [
        (onestop, "land.parcel.search", 200)
    ]
    assert [(e["client"], e["name"], e["status"]) for e in theirs] == [
        ("ndxp.national", "land.parcel.search", 200)
    ]
    hops = ndxp(network).exchanges.find(request_id=request_id)
    assert [(h.origin, h.origin_client, h.target, h.status) for h in hops] == [
        ("dongthap", onestop, "gialai", 200)
    ]
    # Then the dossier is filed in Đồng Tháp, numbered with its agency code.
    receipt = await dongthap.call(
        "onestop.dossier.submit",
        {
            "maTTHC": "1.013831",
            "chuHoSo": {"soDinhDanh": citizen, "hoVaTen": record["hoVaTen"]},
            "thuaDat": {"maXa": "29869", "soHieuToBanDo": 12, "soThuTuThua": 345},
        },
        client=onestop,
    )
    assert receipt.status == 200
    assert receipt.json["maHoSo"].startswith(PROVINCES["dongthap"].agency_code + "-")


def _communes(province: str) -> set[str]:
    from lgsp_adapters.divisions import Divisions

    return {c.code for c in Divisions(province=province).home}


async def test_each_side_decides_and_names_itself(network: Network) -> None:
    dongthap = network["dongthap"]
    body = {"soDinhDanh": sample_owner("gialai", 64)}
    # Đồng Tháp's viewer is granted no other province's service.
    refused = await dongthap.call(
        "land.parcel.search", body, client="dongthap.viewer", headers={"X-LGSP-Province": "gialai"}
    )
    assert (refused.status, refused.json["code"], refused.json["raised_by"]) == (
        403,
        "auth.forbidden",
        "dongthap",
    )
    # Đồng Tháp lets its broker ask Gia Lai's one-stop-shop; Gia Lai grants
    # Đồng Tháp only its land lookups.
    theirs = await dongthap.call(
        "onestop.procedure.list", {}, client=BROKER, headers={"X-LGSP-Province": "gialai"}
    )
    assert (theirs.status, theirs.json["code"], theirs.json["raised_by"]) == (
        403,
        "auth.forbidden",
        "gialai",
    )
    # A request outside the contract never leaves the province.
    invalid = await dongthap.call(
        "land.parcel.search",
        {"soDinhDanh": "12"},
        client=BROKER,
        headers={"X-LGSP-Province": "gialai"},
    )
    assert (invalid.status, invalid.json["raised_by"]) == (422, "dongthap")


async def test_bad_addresses(network: Network) -> None:
    dongthap = network["dongthap"]
    body = {"soDinhDanh": sample_owner("gialai", 64)}
    calls = ndxp(network).calls["forward"]
    nowhere = await dongthap.call(
        "land.parcel.search", body, client=BROKER, headers={"X-LGSP-Province": "hanoi"}
    )
    assert (nowhere.status, nowhere.json["code"], nowhere.json["raised_by"]) == (
        404,
        "service.unknown",
        "ndxp",
    )
    loop = await dongthap.call(
        "land.parcel.search", body, client=BROKER, headers={"X-LGSP-Province": "dongthap"}
    )
    assert (loop.status, loop.json["code"], loop.json["raised_by"]) == (
        400,
        "network.loop",
        "dongthap",
    )
    malformed = await dongthap.call(
        "land.parcel.search", body, client=BROKER, headers={"X-LGSP-Province": "Gia Lai"}
    )
    assert malformed.status == 400
    # Only the unknown province reached NDXP.
    assert ndxp(network).calls["forward"] == calls + 1


async def test_the_origin_is_never_the_callers_to_say(network: Network) -> None:
    dongthap, gialai = network["dongthap"], network["gialai"]
    citizen = {"soDinhDanh": sample_owner("gialai", 64)}
    # A client of Đồng Tháp cannot claim to be calling from elsewhere...
    forged = await dongthap.call(
        "land.parcel.search", citizen, client=BROKER, headers={"X-LGSP-Origin": "phutho"}
    )
    assert (forged.status, forged.json["code"]) == (403, "auth.forbidden")
    # ...nor can a client of Gia Lai's own LGSP...
    forged = await gialai.call(
        "land.parcel.search",
        citizen,
        client="gialai.onestop",
        headers={"X-LGSP-Origin": "dongthap"},
    )
    assert (forged.status, forged.json["raised_by"]) == (403, "gialai")
    # ...and an LGSP that sends NDXP an origin of its choosing is overruled:
    # NDXP names the origin from the credentials it authenticated.
    sim = ndxp(network)
    async with aiohttp.ClientSession() as http:
        token = await _ndxp_token(http, sim, "dongthap.lgsp", "demo-lgsp-ndxp-secret")
        request_id = f"forged-{time.monotonic_ns()}"
        async with http.post(
            f"{sim.url}/lgsp/gialai/land.parcel.search",
            json=citizen,
            headers={
                "Authorization": f"Bearer {token}",
                "X-LGSP-Origin": "phutho",
                "X-Request-Id": request_id,
            },
        ) as r:
            assert r.status == 200
    assert [h.origin for h in sim.exchanges.find(request_id=request_id)] == ["dongthap"]


async def _ndxp_token(http: aiohttp.ClientSession, sim: Simulator, client: str, secret: str) -> str:
    async with http.post(
        f"{sim.url}/token",
        data={"grant_type": "client_credentials", "client_id": client, "client_secret": secret},
    ) as r:
        assert r.status == 200
        token: str = (await r.json())["access_token"]
        return token


async def test_outages_stay_where_they_are_and_end_by_themselves(network: Network) -> None:
    dongthap = network["dongthap"]
    sim = ndxp(network)
    citizen = {"soDinhDanh": sample_owner("gialai", 64)}
    across = {"X-LGSP-Province": "gialai", "X-LGSP-Timeout-Ms": "1500"}

    async def local() -> int:
        answer = await dongthap.call(
            "land.parcel.lookup",
            {"maXa": "29869", "soHieuToBanDo": 12, "soThuTuThua": 345},
            client="dongthap.viewer",
        )
        return answer.status

    # Gia Lai unreachable (its gateway gone from where NDXP reaches it).
    gialai_url = network.gateways["gialai"]
    network.gateways["gialai"] = "http://127.0.0.1:9"  # discard: nothing listens
    try:
        started = time.monotonic()
        down = await dongthap.call("land.parcel.search", citizen, client=BROKER, headers=across)
        assert (down.status, down.json["code"]) == (503, "service.unavailable")
        assert "Retry-After" in down.headers
        assert time.monotonic() - started < 1.5
        assert await local() == 200
    finally:
        network.gateways["gialai"] = gialai_url
    # Gia Lai slower than the deadline: 504 once it has passed, not later.
    await sim.set_faults(Faults(latency_ms=3000))
    try:
        started = time.monotonic()
        slow = await dongthap.call("land.parcel.search", citizen, client=BROKER, headers=across)
        assert (slow.status, slow.json["code"]) == (504, "service.timeout")
        assert 1.4 < time.monotonic() - started < 2.5
        assert await local() == 200
        # NDXP down altogether.
        await sim.set_faults(Faults(outage="refuse"))
        down = await dongthap.call("land.parcel.search", citizen, client=BROKER, headers=across)
        assert down.status == 503
        assert await local() == 200
    finally:
        await sim.set_faults(Faults())

    async def resumed() -> bool:
        answer = await dongthap.call("land.parcel.search", citizen, client=BROKER, headers=across)
        return answer.status == 200

    await eventually(resumed, "calls across resume once NDXP and Gia Lai are back")


async def test_metrics_and_dashboard_count_exchanges_by_partner(network: Network) -> None:
    dongthap, gialai = network["dongthap"], network["gialai"]
    citizen = {"soDinhDanh": sample_owner("gialai", 64)}
    answer = await dongthap.call(
        "land.parcel.search", citizen, client=BROKER, headers={"X-LGSP-Province": "gialai"}
    )
    assert answer.status == 200
    scrape = await (await dongthap.http.get("/metrics")).text()
    # One registry per process: each series names its province.
    assert (
        'lgsp_partner_exchanges_total{direction="out",partner="gialai",province="dongthap",'
        'status="200"}'
    ) in scrape
    assert (
        'lgsp_partner_exchanges_total{direction="in",partner="dongthap",province="gialai",'
        'status="200"}'
    ) in scrape
    admin = aiohttp.BasicAuth("admin", "demo-admin-secret")
    ours = await (await dongthap.http.get("/v1/admin/dashboard", auth=admin)).json()
    theirs = await (await gialai.http.get("/v1/admin/dashboard", auth=admin)).json()
    assert {(p["direction"], p["partner"]) for p in ours["partners"]} >= {("to", "gialai")}
    assert {(p["direction"], p["partner"]) for p in theirs["partners"]} >= {("from", "dongthap")}


async def test_ndop_traces_each_exchange_of_personal_data_and_the_citizen_sees_it(
    network: Network,
) -> None:
    dongthap = network["dongthap"]
    sim = ndxp(network)
    # Born in the former Bình Định: no other test here asks about them.
    citizen = sample_owner("gialai", 52)
    assert citizen is not None
    request_id = f"traced-{time.monotonic_ns()}"
    lookup = await dongthap.call(
        "population.citizen.lookup",
        {"maYeuCau": "DT-9", "maDVC": "1.013831", "maCanBo": "cb01", "soDinhDanh": citizen},
        client="dongthap.onestop",
        headers={"X-Request-Id": f"{request_id}-lookup"},
    )
    assert lookup.status == 200
    parcels = await dongthap.call(
        "land.parcel.search",
        {"soDinhDanh": citizen},
        client="dongthap.onestop",
        headers={"X-LGSP-Province": "gialai", "X-Request-Id": request_id},
    )
    assert parcels.status == 200
    async with aiohttp.ClientSession() as http:

        async def reports() -> list[dict[str, Any]]:
            async with http.get(f"{sim.url}/ndop/v1/traces/{request_id}") as r:
                return list((await r.json())["reports"]) if r.status == 200 else []

        # Both sides report the crossing call: the requester and the provider.
        await eventually(
            lambda: _roles(reports()), "both LGSPs reported the call to NDOP", timeout=15
        )
        sides = {(t["reporter"], t["role"]) for t in await reports()}
        assert sides == {("dongthap", "requester"), ("gialai", "provider")}
    born = lookup.json["ngaySinh"]
    history = await dongthap.call(
        "ndop.access.history", {"soDinhDanh": citizen, "ngaySinh": born}, client="dongthap.portal"
    )
    assert history.status == 200, history.json
    assert history.json["soDinhDanh"] == citizen[:3] + "*" * 7 + citizen[-2:]
    # Two uses, newest first: the crossing call is one, though both sides
    # reported it.
    uses = [(u["maCoQuan"], u["tinh"], u["dichVu"], u["mucDich"]) for u in history.json["truyCap"]]
    assert uses == [
        ("dongthap.onestop", "dongthap", "land.parcel.search", None),
        ("dongthap.onestop", "dongthap", "population.citizen.lookup", "1.013831"),
    ]
    assert history.json["truyCap"][0]["coQuan"] == "Đồng Tháp one-stop-shop (một cửa điện tử)"
    # A wrong proof and an unknown id get one answer: nothing to enumerate by.
    wrong = await dongthap.call(
        "ndop.access.history",
        {"soDinhDanh": citizen, "ngaySinh": "2001-01-01"},
        client="dongthap.portal",
    )
    unknown = await dongthap.call(
        "ndop.access.history",
        {"soDinhDanh": "064035999999", "ngaySinh": born},
        client="dongthap.portal",
    )
    assert wrong.status == unknown.status == 404
    assert _without_id(wrong.json) == _without_id(unknown.json)
    assert wrong.json["code"] == "ndop.access.not_found"
    # Another citizen sees only their own.
    other = "087090001234"
    theirs = await dongthap.call(
        "ndop.access.history",
        {"soDinhDanh": other, "ngaySinh": "1990-05-17"},
        client="dongthap.portal",
    )
    assert theirs.status == 200, theirs.json
    assert all(u["dichVu"] != "land.parcel.search" for u in theirs.json["truyCap"])
    # Walking through ids is cut short by the portal's quota.
    statuses = [
        (
            await dongthap.call(
                "ndop.access.history",
                {"soDinhDanh": f"06403500{n:04d}", "ngaySinh": born},
                client="dongthap.portal",
            )
        ).status
        for n in range(30)
    ]
    assert 429 in statuses
    assert set(statuses) <= {404, 429}


async def _roles(reports: Any) -> bool:
    return len({(t["reporter"], t["role"]) for t in await reports}) == 2


def _without_id(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k != "request_id"}


async def test_reports_wait_out_an_ndop_outage_and_never_fail_an_exchange(
    network: Network,
) -> None:
    dongthap = network["dongthap"]
    sim = ndxp(network)
    # A citizen of Đồng Tháp's own land database: served here, reported to NDOP.
    owner = "087090001234"
    ids = [f"ndop-down-{time.monotonic_ns()}-{n}" for n in range(3)]
    await sim.set_faults(Faults(outage="unavailable"))
    try:
        for request_id in ids:
            answer = await dongthap.call(
                "land.parcel.search",
                {"soDinhDanh": owner},
                client="dongthap.onestop",
                headers={"X-Request-Id": request_id},
            )
            assert answer.status == 200  # reporting never fails an exchange
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{sim.url}/ndop/v1/traces/{ids[0]}") as r,
        ):
            assert r.status == 404  # NDOP has none of them yet: it is down
    finally:
        await sim.set_faults(Faults())

    async def all_arrived() -> bool:
        async with aiohttp.ClientSession() as http:
            for request_id in ids:
                async with http.get(f"{sim.url}/ndop/v1/traces/{request_id}") as r:
                    if r.status != 200:
                        return False
                    if [t["reporter"] for t in (await r.json())["reports"]] != ["dongthap"]:
                        return False
        return True

    # Retried with backoff (at most a few seconds between tries here).
    await eventually(all_arrived, "every report reached NDOP once it was back", timeout=45)


async def test_no_province_takes_another_provinces_token(network: Network) -> None:
    dongthap, gialai = network["dongthap"], network["gialai"]
    # NDXP's client exists in both provinces under the same id: its token of
    # one is still refused by the other (each signs with its own key).
    token = await dongthap.token("ndxp.national")
    r = await gialai.http.post(
        "/v1/services/land.parcel.lookup",
        json={"maXa": "24043", "soHieuToBanDo": 1, "soThuTuThua": 34},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status == 401
    assert (await r.json())["raised_by"] == "gialai"


async def test_an_idempotency_key_belongs_to_the_province_that_used_it(network: Network) -> None:
    """NDXP relays every province as one client: the serving LGSP keeps a
    key per origin, so another province's same key is not a replay."""
    gialai = network["gialai"]
    body = {"maXa": "24043", "soHieuToBanDo": 1, "soThuTuThua": 34}
    key = f"key-{time.monotonic_ns()}"

    async def relayed(origin: str) -> Any:
        return await gialai.send(
            "land.parcel.lookup",
            body,
            client="ndxp.national",
            headers={"X-LGSP-Origin": origin, "Idempotency-Key": key},
        )

    first = await relayed("dongthap")
    again = await relayed("dongthap")
    other = await relayed("lamdong")
    assert first.status == again.status == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert other.status == 200
    assert "Idempotent-Replayed" not in other.headers
