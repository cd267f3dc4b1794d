"""VNForm in a network of provinces, on both transports: one platform for
all, each province its own receiver and API key, and every answer
delivered to the province that invited, into its own warehouse only."""

from __future__ import annotations

from typing import Any

from lgsp.testing import Bus, Network
from lgsp_adapters.vnform import Simulator
from tests.support.waiting import eventually


async def feedback_of(bus: Bus, number: str) -> int:
    r = await bus.call(
        "warehouse.sql.query",
        {"sql": f"SELECT count(*) FROM feedback WHERE ma_ho_so = '{number}'"},
    )
    assert r.status == 200, r.json
    rows: list[list[Any]] = r.json["dong"]
    return int(rows[0][0])


async def test_an_answer_goes_back_to_the_province_that_invited(network: Network) -> None:
    sim = network.platform("vnform-sim", Simulator)
    gialai = network["gialai"]
    r = await gialai.call(
        "onestop.dossier.submit",
        {
            "maTTHC": "1.004873",
            "chuHoSo": {"soDinhDanh": "064035250056", "hoVaTen": "Nguyễn Văn Hậu"},
            "ngayTiepNhan": "2025-09-02T08:00:00+07:00",
        },
    )
    assert r.status == 200, r.json
    number = r.json["maHoSo"]
    assert number.startswith("000.00.00.H21-")
    for status in ("4", "9", "10"):
        step = await gialai.call(
            "onestop.dossier.update-status", {"maHoSo": number, "trangThai": status}
        )
        assert step.status == 200, step.json

    def invited() -> bool:
        return any(i.ma_ho_so == number for i in sim.invitations.values())

    await eventually(invited, "Gia Lai's invitation is on VNForm")
    invitation = next(i for i in sim.invitations.values() if i.ma_ho_so == number)
    assert (invitation.province, invitation.ma_don_vi) == ("gialai", "000.00.00.H21")
    assert sim.webhooks["gialai"] != sim.webhooks["dongthap"]
    [submitted] = [
        s for s in sim.simulate(seed=3, limit=1000) if sim.submissions[s].invitation is invitation
    ]
    await eventually(lambda: sim.deliveries[submitted].state == "delivered", "the answer delivered")
    assert sim.deliveries[submitted].url == sim.webhooks["gialai"]

    async def in_gialai() -> bool:
        return await feedback_of(gialai, number) == 1

    await eventually(in_gialai, "the answer is in Gia Lai's warehouse")
    assert await feedback_of(network["dongthap"], number) == 0
