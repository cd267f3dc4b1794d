"""The simulated VNForm alone, over HTTP: its forms, its API keys, one
invitation per dossier, one answer per invitation, and each answer
delivered signed, retried while the province answers 5xx or is away,
never after a refusal, and given up after its last attempt."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web

from lgsp_adapters.vnform import Simulator, Verifier, VnformConfig, running
from lgsp_adapters.vnform.signature import HEADER
from lgsp_contracts.onestop import THU_TUC

KEY = {"Authorization": "Bearer demo-vnform-key-dongthap"}
INVITATION = {
    "maHoSo": "000.00.00.H20-250512-0001",
    "maTTHC": "1.004873",
    "maDonVi": "000.00.00.H20",
    "thamChieuCongDan": "5f0c1e2d3b4a59687766554433221100",
    "thoiDiem": "2025-05-15T08:30:00+07:00",
}
ANSWERS = {"tongThe": 5, "thoiGian": 4, "thaiDo": 5, "gopY": "Nhanh gọn."}


@dataclass
class Province:
    """A webhook receiver that answers as told, keeping what it got."""

    answers: list[int] = field(default_factory=list)
    """Statuses to answer, in turn (200 once they run out)."""
    got: list[tuple[str, bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((request.headers.get(HEADER, ""), await request.read()))
        status = self.answers.pop(0) if self.answers else 200
        return web.json_response({"status": status}, status=status)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with running(VnformConfig(port=0, retry_delays_s=(0.01, 0.02, 0.04))) as s:
        yield s


@pytest.fixture
async def province() -> AsyncIterator[Province]:
    p = Province()
    app = web.Application()
    app.router.add_post("/webhooks/vnform", p.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    p.url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/vnform"
    yield p
    await runner.cleanup()


async def api(sim: Simulator, method: str, path: str, **kw: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sim.url) as client:
        return await client.request(method, path, **kw)  # type: ignore[arg-type]


async def answered(sim: Simulator, province: Province, answers: dict[str, object]) -> str:
    """Register the province, invite, answer; the submission id."""
    r = await api(sim, "PUT", "/webhooks", json={"url": province.url}, headers=KEY)
    assert r.status_code == 200, r.text
    invited = await api(sim, "POST", "/invitations", json=INVITATION, headers=KEY)
    body = invited.json()
    r = await api(
        sim,
        "POST",
        f"/forms/{body['maBieuMau']}/submissions",
        json={"loiMoi": body["loiMoi"], "traLoi": answers},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["maPhanHoi"])


async def settled(sim: Simulator) -> None:
    async with asyncio.timeout(10):
        await sim.settled()


async def test_a_form_per_procedure_with_three_ratings_and_a_comment(sim: Simulator) -> None:
    listed = (await api(sim, "GET", "/forms")).json()["forms"]
    assert sorted(f["maTTHC"] for f in listed) == sorted(t.ma_tthc for t in THU_TUC)
    form = (await api(sim, "GET", "/forms/khao-sat-1.004873")).json()
    fields = {f["_id"]: f for f in form["form_fields"]}
    assert list(fields) == ["tongThe", "thoiGian", "thaiDo", "gopY"]
    assert fields["thaiDo"]["fieldType"] == "rating"
    assert fields["thaiDo"]["ratingOptions"]["labels"]["5"] == "Rất hài lòng"
    assert "thái độ" in fields["thaiDo"]["title"]
    assert fields["gopY"]["required"] is False
    assert (await api(sim, "GET", "/forms/khao-sat-9.999999")).status_code == 404


async def test_provinces_need_their_api_key(sim: Simulator) -> None:
    r = await api(sim, "POST", "/invitations", json=INVITATION)
    assert r.status_code == 401
    assert r.json()["code"] == "vnform.auth.unauthenticated"
    wrong = {"Authorization": "Bearer not-a-key"}
    assert (await api(sim, "PUT", "/webhooks", json={"url": "x"}, headers=wrong)).status_code == 401


async def test_one_invitation_per_dossier_and_one_answer_per_invitation(
    sim: Simulator, province: Province
) -> None:
    first = await api(sim, "POST", "/invitations", json=INVITATION, headers=KEY)
    again = await api(sim, "POST", "/invitations", json=INVITATION, headers=KEY)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["loiMoi"] == again.json()["loiMoi"]
    assert first.json()["lienKet"].startswith(f"{sim.url}/forms/khao-sat-1.004873?loiMoi=")
    await answered(sim, province, ANSWERS)
    r = await api(
        sim,
        "POST",
        "/forms/khao-sat-1.004873/submissions",
        json={"loiMoi": first.json()["loiMoi"], "traLoi": ANSWERS},
    )
    assert r.status_code == 409
    assert r.json()["code"] == "vnform.invitation.answered"


@pytest.mark.parametrize(
    "answers",
    [
        {"tongThe": 6, "thoiGian": 4, "thaiDo": 5},
        {"tongThe": "5", "thoiGian": 4, "thaiDo": 5},
        {"thoiGian": 4, "thaiDo": 5},
        {"tongThe": 5, "thoiGian": 4, "thaiDo": 5, "hoTen": "Lê Thị Hồng"},
        {"tongThe": 5, "thoiGian": 4, "thaiDo": 5, "gopY": "x" * 1001},
    ],
)
async def test_answers_outside_the_form_are_refused(
    sim: Simulator, answers: dict[str, object]
) -> None:
    invited = (await api(sim, "POST", "/invitations", json=INVITATION, headers=KEY)).json()
    r = await api(
        sim,
        "POST",
        "/forms/khao-sat-1.004873/submissions",
        json={"loiMoi": invited["loiMoi"], "traLoi": answers},
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "vnform.answer.invalid"
    assert not sim.submissions


async def test_an_answer_is_delivered_signed_over_the_registered_url(
    sim: Simulator, province: Province
) -> None:
    sid = await answered(sim, province, ANSWERS)
    await settled(sim)
    assert sim.deliveries[sid].state == "delivered"
    [(header, body)] = province.got
    key = (await api(sim, "GET", "/.well-known/vnform-public-key")).json()
    assert key["algorithm"] == "Ed25519"
    signed = Verifier(key["publicKey"]).verify(header, province.url, body, int(time.time() * 1000))
    assert signed.submission_id == sid
    data = json.loads(body)["data"]
    assert data["submissionId"] == sid
    assert data["invitation"]["maHoSo"] == INVITATION["maHoSo"]
    assert {r["_id"]: r["answer"] for r in data["responses"]}["tongThe"] == "5"
    assert INVITATION["thamChieuCongDan"] not in body.decode()


async def test_5xx_and_no_answer_are_retried_until_delivered(
    sim: Simulator, province: Province
) -> None:
    province.answers = [503, 500]
    sid = await answered(sim, province, ANSWERS)
    await settled(sim)
    delivery = sim.deliveries[sid]
    assert (delivery.state, delivery.attempts) == ("delivered", 3)
    # Each attempt is signed afresh.
    assert len({header for header, _ in province.got}) == 3


async def test_a_refusal_is_not_retried(sim: Simulator, province: Province) -> None:
    province.answers = [401]
    sid = await answered(sim, province, ANSWERS)
    await settled(sim)
    assert (sim.deliveries[sid].state, sim.deliveries[sid].attempts) == ("refused", 1)


async def test_a_province_away_is_given_up_after_the_last_attempt(sim: Simulator) -> None:
    gone = Province(url="http://127.0.0.1:9/webhooks/vnform")  # the discard port: refused
    sid = await answered(sim, gone, ANSWERS)
    await settled(sim)
    delivery = sim.deliveries[sid]
    assert (delivery.state, delivery.attempts) == ("failed", 4)
    assert delivery.last_error


async def test_simulate_answers_the_open_invitations_only(
    sim: Simulator, province: Province
) -> None:
    await api(sim, "PUT", "/webhooks", json={"url": province.url}, headers=KEY)
    for day in range(1, 4):
        dossier = INVITATION | {"maHoSo": f"000.00.00.H20-2505{day:02d}-0001"}
        await api(sim, "POST", "/invitations", json=dossier, headers=KEY)
    r = await api(sim, "POST", "/admin/simulate", json={"seed": 7, "limit": 2})
    assert len(r.json()["maPhanHoi"]) == 2
    r = await api(sim, "POST", "/admin/simulate", json={"seed": 7})
    assert len(r.json()["maPhanHoi"]) == 1  # only one was still open
    await settled(sim)
    assert [d.state for d in sim.deliveries.values()] == ["delivered"] * 3
    listed = (await api(sim, "GET", "/admin/invitations")).json()["loiMoi"]
    assert all(i["daTraLoi"] for i in listed)
