"""One warehouse per province in one process: two copies of the warehouse's
adapter, each on a bus of its own, keep their own settings, data folder,
events and status, and the module's functions reach either by its copy
(the module-level adapter's warehouse stays out of it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import lgsp_adapters.warehouse as warehouse
from lgsp import ServiceUnavailable
from lgsp.testing import Bus, running_bus
from tests.support.waiting import eventually

TOPIC = "onestop.dossier.status-changed"
NUMBER = "000.00.00.H21-250701-0001"


async def count(bus: Bus) -> int:
    r = await bus.call("warehouse.sql.query", {"sql": "SELECT count(*) FROM dossier_events"})
    assert r.status == 200, r.json
    return int(r.json["dong"][0][0])


async def test_two_copies_keep_their_state_apart(tmp_path: Path) -> None:
    dongthap = warehouse.adapter.copy(env={**os.environ, "LGSP_PROVINCE": "dongthap"})
    gialai = warehouse.adapter.copy(
        env={**os.environ, "LGSP_PROVINCE": "gialai", "LGSP_WAREHOUSE_PULL_S": "123"}
    )
    async with (
        running_bus(
            installed=False, sidecars=False, adapters=[dongthap], data_dir=tmp_path / "dongthap"
        ) as a,
        running_bus(
            installed=False, sidecars=False, adapters=[gialai], data_dir=tmp_path / "gialai"
        ) as b,
    ):
        wh_a, wh_b = warehouse.current(dongthap), warehouse.current(gialai)
        assert wh_a is not wh_b
        # Each read its own settings and keeps its files in its own folder.
        assert (wh_a.settings.pull_s, wh_b.settings.pull_s) == (900.0, 123.0)
        assert (tmp_path / "dongthap" / "warehouse").is_dir()
        assert (tmp_path / "gialai" / "warehouse").is_dir()
        event = {"maHoSo": NUMBER, "maTTHC": "1.004873", "trangThai": "2"}
        event["thoiDiem"] = "2025-07-01T09:00:00+07:00"
        accepted = await b.publish(TOPIC, event)
        assert accepted.status == 202, accepted.json
        await eventually(lambda: wh_b.watermark == 1, "gialai's warehouse loads its event")
        # Served by each copy from its own warehouse, whoever asks.
        assert (await count(a), await count(b)) == (0, 1)
        assert wh_a.watermark == 0
        # The sources are not on these buses: neither is ready, each says so.
        assert not warehouse.is_ready(dongthap)
        assert not warehouse.is_ready(gialai)
        statuses = {s.instance: s.values for s in b.gateway_transport.statuses()}
        assert statuses[gialai.instance]["events"] == 1
        statuses = {s.instance: s.values for s in a.gateway_transport.statuses()}
        assert statuses[dongthap.instance]["events"] == 0
        # The module-level adapter runs nowhere here.
        assert not warehouse.is_ready()
    # Stopped: each copy's warehouse is closed, and says so.
    for copy in (dongthap, gialai):
        assert not warehouse.is_ready(copy)
    with pytest.raises(ServiceUnavailable):
        warehouse.current(gialai)


def test_only_copies_of_the_warehouse_are_taken() -> None:
    from lgsp import Adapter

    with pytest.raises(ValueError, match="not a copy"):
        warehouse.current(Adapter("warehouse", agency="another system"))
