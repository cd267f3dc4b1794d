"""The warehouse on a running bus, on both transports: an accepted event is
queryable within 2 s, a duplicate counts once, the datasets answer what the
sources hold and refuse bad parameters by contract."""

from __future__ import annotations

import asyncio
import secrets

import pytest

import lgsp_adapters.warehouse as warehouse
from lgsp.testing import Bus
from tests.support.waiting import eventually

TOPIC = "onestop.dossier.status-changed"
PUBLISHER = "dongthap.onestop"
ANALYST = "dongthap.analyst"


def new_number() -> str:
    """A dossier number no other test uses (unknown to the one-stop-shop)."""
    return f"000.00.00.H20-{secrets.randbelow(10**6):06d}-{secrets.randbelow(10**4):04d}"


def event(
    number: str, status: str = "2", at: str = "2025-07-01T09:00:00+07:00"
) -> dict[str, object]:
    return {"maHoSo": number, "maTTHC": "1.004873", "trangThai": status, "thoiDiem": at}


async def events_of(bus: Bus, number: str) -> int:
    r = await bus.call(
        "warehouse.sql.query",
        {"sql": f"SELECT count(*) FROM dossier_events WHERE ma_ho_so = '{number}'"},
        client=ANALYST,
    )
    assert r.status == 200, r.json
    return int(r.json["dong"][0][0])


async def test_an_accepted_event_is_queryable_within_two_seconds(bus: Bus) -> None:
    number = new_number()
    accepted = await bus.publish(TOPIC, event(number), client=PUBLISHER)
    assert accepted.status == 202, accepted.json

    async def landed() -> bool:
        return await events_of(bus, number) == 1

    await eventually(landed, "the event is in the warehouse", timeout=2)


async def test_the_same_step_published_twice_is_two_events_of_one_dossier(bus: Bus) -> None:
    number = new_number()
    for _ in range(2):
        assert (await bus.publish(TOPIC, event(number), client=PUBLISHER)).status == 202
    later = new_number()  # published after both: once it is in, both were handled
    assert (await bus.publish(TOPIC, event(later), client=PUBLISHER)).status == 202

    async def landed() -> bool:
        return await events_of(bus, later) == 1

    await eventually(landed, "the later event is in the warehouse", timeout=5)
    await warehouse.caught_up()
    # Each accepted event lands (once: deduplicated by event id), and the
    # dossier they speak of is one dossier.
    assert await events_of(bus, number) == 2
    rows = await bus.call(
        "warehouse.sql.query",
        {"sql": f"SELECT nguon, received FROM dossiers WHERE ma_ho_so = '{number}'"},
        client=ANALYST,
    )
    # The one-stop-shop does not know it: kept from its event, marked.
    assert rows.json["dong"] == [["unknown_at_source", "2025-07-01T09:00:00"]]


async def test_the_datasets_answer_once_loaded(bus: Bus) -> None:
    async with asyncio.timeout(30):
        await warehouse.ready()
    r = await bus.call(
        "warehouse.dossiers.monthly", {"tuThang": "2025-05", "denThang": "2025-05"}, client=ANALYST
    )
    assert r.status == 200, r.json
    assert [row["maTTHC"] for row in r.json["danhSach"]] == ["1.004873"]
    assert warehouse.status()["ready"] is True


@pytest.mark.parametrize(
    ("service", "body", "code"),
    [
        ("warehouse.dossiers.monthly", {"tuThang": "2025-13"}, "contract.request_invalid"),
        (
            "warehouse.dossiers.monthly",
            {"tuThang": "2025-06", "denThang": "2025-05"},
            "warehouse.period_invalid",
        ),
        (
            "warehouse.exchanges.daily",
            {"tuNgay": "2025-06-02", "denNgay": "2025-06-01"},
            "warehouse.period_invalid",
        ),
        ("warehouse.sql.query", {"sql": "DELETE FROM procedures"}, "warehouse.sql.forbidden"),
        ("warehouse.sql.query", {"sql": "SELECT * FROM nope"}, "warehouse.sql.invalid"),
        ("warehouse.sql.query", {"sql": "SELECT 1", "gioiHan": 0}, "contract.request_invalid"),
    ],
)
async def test_bad_parameters_are_422_with_their_code(
    bus: Bus, service: str, body: dict[str, object], code: str
) -> None:
    async with asyncio.timeout(30):
        await warehouse.ready()
    r = await bus.call(service, body, client=ANALYST)
    assert (r.status, r.json["code"]) == (422, code), r.json
