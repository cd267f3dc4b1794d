"""Citizens' feedback through the simulated VNForm on a running bus, on
both transports: a dossier returned to its applicant becomes an invitation
on VNForm, each answer comes back by a webhook signed with real Ed25519
keys and reaches the warehouse and the open data portal, de-identified;
a forged, stale or replayed delivery is refused and publishes nothing."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import lgsp_adapters.warehouse as warehouse
from lgsp import Adapter, Context
from lgsp.testing import Bus, TransportKind, running_bus
from lgsp.testing.rabbitmq import RabbitNode
from lgsp_adapters.opendata.server import OpenDataPortal
from lgsp_adapters.opendata.testing import PORTAL_CLIENT
from lgsp_adapters.vnform import Signer, Simulator, connector
from lgsp_adapters.vnform.signature import HEADER, WINDOW_MS
from lgsp_adapters.vnform.simulator import Submission
from lgsp_adapters.warehouse.report import satisfaction as report_section
from lgsp_contracts.feedback import PhanHoiKhaoSat
from tests.support.waiting import eventually

FLOW_PROCEDURE = "1.004859"
"""The procedure of the flow's dossiers (the refusal tests use another)."""
CITIZENS = [("087192004321", "Lê Thị Hồng"), ("087090001234", "Nguyễn Văn Hùng")]
DATASET = "muc-do-hai-long-ve-thu-tuc-hanh-chinh"


class Published:
    """What a subscriber of ``vnform.feedback.submitted`` received."""

    def __init__(self) -> None:
        self.answers: list[PhanHoiKhaoSat] = []
        self.adapter = Adapter("feedback-spy", agency="A subscriber of the tests")

        @self.adapter.subscribe("vnform.feedback.submitted", name="tests.feedback-spy")
        async def seen(answer: PhanHoiKhaoSat, ctx: Context) -> None:
            self.answers.append(answer)

    def of(self, submission: str) -> list[PhanHoiKhaoSat]:
        return [a for a in self.answers if a.maPhanHoi == submission]


@pytest.fixture(scope="module")
def published(transport_kind: TransportKind) -> Published:
    return Published()


@pytest.fixture(scope="module")
async def bus(
    transport_kind: TransportKind,
    request: pytest.FixtureRequest,
    published: Published,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Bus]:
    """Every mock system with the national platforms, on a virtual host of
    its own on amqp, keeping their state in a data folder (the warehouse's
    copy, which the report reads); the portal's client granted the
    satisfaction dataset."""
    url = None
    if transport_kind == "amqp":
        node: RabbitNode = request.getfixturevalue("lgsp_rabbitmq_node")
        url = node.add_vhost("vnform")
    async with running_bus(
        transport_kind,
        amqp_url=url,
        adapters=[published.adapter],
        clients=[PORTAL_CLIENT],
        data_dir=tmp_path_factory.mktemp(f"vnform-{transport_kind}"),
    ) as b:
        yield b


def vnform(bus: Bus) -> Simulator:
    return bus.sidecar("vnform-sim", Simulator)


def receiver_url() -> str:
    found = connector.receiver(connector.adapter)
    assert found is not None, "the VNForm connector runs no receiver"
    return found.url


async def sql(bus: Bus, statement: str) -> list[list[Any]]:
    r = await bus.call("warehouse.sql.query", {"sql": statement})
    assert r.status == 200, r.json
    return list(r.json["dong"])


async def feedback_rows(bus: Bus, submission: str) -> int:
    rows = await sql(bus, f"SELECT count(*) FROM feedback WHERE ma_phan_hoi = '{submission}'")
    return int(rows[0][0])


async def returned_dossier(bus: Bus, day: int, citizen: tuple[str, str]) -> str:
    """A dossier received, processed, done and returned; its number."""
    r = await bus.call(
        "onestop.dossier.submit",
        {
            "maTTHC": FLOW_PROCEDURE,
            "chuHoSo": {"soDinhDanh": citizen[0], "hoVaTen": citizen[1]},
            "ngayTiepNhan": f"2025-08-{day:02d}T08:00:00+07:00",
        },
    )
    assert r.status == 200, r.json
    number = str(r.json["maHoSo"])
    for status in ("4", "9", "10"):
        step = await bus.call(
            "onestop.dossier.update-status", {"maHoSo": number, "trangThai": status}
        )
        assert step.status == 200, step.json
    return number


async def test_returned_dossiers_are_invited_answered_and_aggregated(
    bus: Bus, published: Published, transport_kind: TransportKind
) -> None:
    sim = vnform(bus)
    # Days of their own per transport: the one-stop-shop's book outlives a
    # bus in this process, and the same dossier submitted again is the one
    # it already holds (returned, so its next steps would be refused).
    first = 4 if transport_kind == "memory" else 14
    numbers = [
        await returned_dossier(bus, day, CITIZENS[day % 2]) for day in range(first, first + 6)
    ]

    def invited() -> bool:
        return {i.ma_ho_so for i in sim.invitations.values()} >= set(numbers)

    await eventually(invited, "VNForm holds an invitation for each returned dossier")
    mine = [i for i in sim.invitations.values() if i.ma_ho_so in numbers]
    assert {i.form.id for i in mine} == {f"khao-sat-{FLOW_PROCEDURE}"}
    assert all(i.ma_don_vi == "000.00.00.H20" for i in mine)
    # The citizen travels as a pseudonym: the same one for the same person.
    for invitation in mine:
        assert invitation.citizen not in (c[0] for c in CITIZENS)
    assert len({i.citizen for i in mine}) == 2

    submitted = sim.simulate(seed=15, limit=1000)
    assert len(submitted) >= len(numbers)
    await eventually(lambda: not any_pending(sim), "every answer delivered", timeout=20)
    assert all(sim.deliveries[s].state == "delivered" for s in submitted)
    answers = {s: sim.submissions[s] for s in submitted if sim.submissions[s].invitation in mine}

    async def landed() -> bool:
        rows = await sql(bus, f"SELECT count(*) FROM feedback WHERE ma_tthc = '{FLOW_PROCEDURE}'")
        return int(rows[0][0]) == len(answers)

    await eventually(landed, "the warehouse holds every answer")
    await warehouse.ready()
    r = await bus.call("warehouse.feedback.satisfaction", {"maTTHC": FLOW_PROCEDURE})
    assert r.status == 200, r.json
    [row] = r.json["danhSach"]
    scores = [int(s.answers["tongThe"]) for s in answers.values()]
    assert row["soPhanHoi"] == len(answers) == 6
    assert row["soHaiLong"] == sum(score >= 4 for score in scores)
    assert row["diemTongThe"] == round(sum(scores) / len(scores), 2)
    assert row["maDonVi"] == "000.00.00.H20"
    assert row["tenTTHC"].startswith("Thay đổi, cải chính")
    # Nothing the bus carried named the citizen.
    events = [a for a in published.answers if a.maHoSo in numbers]
    assert len(events) == 6
    assert not any(c[0] in a.model_dump_json() for a in events for c in CITIZENS)

    portal = bus.sidecar("opendata", OpenDataPortal)
    outcomes = {o.dataset: o for o in await portal.publish()}
    assert outcomes[DATASET].published, outcomes[DATASET].reason
    resource = next(
        res for res in portal.catalog.packages[DATASET]["resources"] if res["format"] == "JSON"
    )
    async with httpx.AsyncClient(base_url=portal.url) as http:
        found = await http.post(
            "/api/3/action/datastore_search",
            json={"resource_id": resource["id"], "filters": {"maTTHC": FLOW_PROCEDURE}},
        )
    [record] = found.json()["result"]["records"]
    assert record["soPhanHoi"] == 6
    assert "gopY" not in record
    assert "maHoSo" not in record

    # The operators' report (lgsp report) says the same, from the warehouse's copy.
    data_dir = bus.settings.data_dir
    assert data_dir is not None
    warehouse.refresh()

    def reported() -> bool:
        section = report_section(data_dir, None, None)
        return section is not None and any(r[0] == FLOW_PROCEDURE for r in section.rows)

    await eventually(reported, "the report's satisfaction section names the procedure")
    found_section = report_section(data_dir, None, None)
    assert found_section is not None
    [line] = [r for r in found_section.rows if r[0] == FLOW_PROCEDURE]
    assert line[2:5] == [row["maDonVi"], row["soPhanHoi"], row["soHaiLong"]]
    assert line[6] == row["diemTongThe"]
    text = json.dumps(found_section.rows, ensure_ascii=False, default=str)
    assert not any(c[0] in text for c in CITIZENS)


def any_pending(sim: Simulator) -> bool:
    return any(d.state == "pending" for d in sim.deliveries.values())


def delivery(sim: Simulator, comment: str | None = None) -> tuple[str, str, bytes]:
    """A delivery as VNForm makes one (not sent by it): its submission id,
    form and body."""
    invitation, _ = sim.invite(
        "dongthap",
        ma_ho_so=f"000.00.00.H20-251001-{len(sim.invitations) + 1:04d}",
        ma_tthc="1.004873",
        ma_don_vi="000.00.00.H20",
        citizen="0" * 32,
        returned_at="2025-10-01T08:00:00+07:00",
    )
    answers = {"tongThe": "4", "thoiGian": "4", "thaiDo": "5"}
    if comment is not None:
        answers["gopY"] = comment
    made = Submission(
        secrets.token_hex(12),
        invitation,
        answers,
        dt.datetime.now(dt.UTC),
    )
    return made.id, invitation.form.id, made.webhook_body()


async def post(url: str, body: bytes, header: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"} | ({HEADER: header} if header else {})
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=body, headers=headers)


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_a_genuine_delivery_is_published_and_reaches_the_warehouse(
    bus: Bus, published: Published
) -> None:
    sim, url = vnform(bus), receiver_url()
    sid, form, body = delivery(sim, comment="Gọi 0912345678, CCCD 087090001234, rất tốt.")
    header = sim.signer.sign(url, sid, form, body, now_ms()).render()
    r = await post(url, body, header)
    assert (r.status_code, r.json()) == (200, {"received": True, "duplicate": False})

    async def landed() -> bool:
        return await feedback_rows(bus, sid) == 1

    await eventually(landed, "the answer is in the warehouse")
    await eventually(lambda: bool(published.of(sid)), "the answer is published")
    [answer] = published.of(sid)
    assert answer.gopY == "Gọi ********78, CCCD 087*******34, rất tốt."
    assert (answer.diemTongThe, answer.diemThoiGian, answer.diemThaiDo) == (4, 4, 5)


async def test_a_forged_signature_is_refused_and_publishes_nothing(
    bus: Bus, published: Published
) -> None:
    sim, url = vnform(bus), receiver_url()
    sid, form, body = delivery(sim)
    for header in (Signer.generate().sign(url, sid, form, body, now_ms()).render(), None):
        r = await post(url, body, header)
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "vnform.webhook.forged"
    # A genuine signature over another body: the answers were changed.
    header = sim.signer.sign(url, sid, form, body, now_ms()).render()
    changed = body.replace(b'"answer": "4"', b'"answer": "1"')
    assert changed != body
    r = await post(url, changed, header)
    assert r.status_code == 401
    assert r.json()["code"] == "vnform.webhook.forged"
    assert await feedback_rows(bus, sid) == 0
    assert not published.of(sid)


async def test_a_stale_signature_is_refused_saying_why(bus: Bus, published: Published) -> None:
    sim, url = vnform(bus), receiver_url()
    sid, form, body = delivery(sim)
    header = sim.signer.sign(url, sid, form, body, now_ms() - WINDOW_MS - 60_000).render()
    r = await post(url, body, header)
    assert r.status_code == 401
    problem = r.json()
    assert problem["code"] == "vnform.webhook.stale"
    assert "5-minute window" in problem["detail"]
    assert "replayed" in problem["detail"]
    assert not published.of(sid)


async def test_a_replay_is_refused_and_a_retry_counts_once(bus: Bus, published: Published) -> None:
    sim, url = vnform(bus), receiver_url()
    sid, form, body = delivery(sim)
    header = sim.signer.sign(url, sid, form, body, now_ms()).render()
    assert (await post(url, body, header)).status_code == 200
    replayed = await post(url, body, header)
    assert replayed.status_code == 409
    assert replayed.json()["code"] == "vnform.webhook.replayed"
    assert sid in replayed.json()["detail"]
    # VNForm's own retry (its first answer lost) is signed afresh: taken, not published again.
    retry = sim.signer.sign(url, sid, form, body, now_ms() + 1).render()
    again = await post(url, body, retry)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)

    async def landed() -> bool:
        return await feedback_rows(bus, sid) == 1

    await eventually(landed, "the answer is in the warehouse once")
    assert len(published.of(sid)) == 1


async def test_the_connector_says_what_it_took(bus: Bus) -> None:
    found = connector.receiver(connector.adapter)
    assert found is not None
    assert found.counts["published"] >= 1
    assert found.counts["forged"] >= 1
    assert found.counts["replayed"] >= 1
    assert vnform(bus).webhooks["dongthap"] == found.url
    health = json.loads((await _get(found.url.replace("/webhooks/vnform", "/healthz"))).text)
    assert health == {"status": "ok", "ready": True}


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(url)
