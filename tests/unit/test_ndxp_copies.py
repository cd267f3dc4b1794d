"""One NDXP connector per province in one process: two copies of the
connector's adapter, each on a bus of its own, are their own province's
LGSP at NDXP (client, portal account, agency code), hold their own token,
session and circuit, and show their own status; the module-level connector
is left as it was."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from lgsp import Adapter
from lgsp.testing import running_bus
from lgsp_adapters.ndxp import Simulator, SimulatorConfig, connector, running
from lgsp_contracts.dvcqg import DOSSIER_SYNC_V1
from lgsp_contracts.population import CITIZEN_LOOKUP_V1


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with running(SimulatorConfig(port=0)) as simulator:
        yield simulator


def copy_for(province: str, sim: Simulator) -> Adapter:
    return connector.adapter.copy(
        env={**os.environ, "LGSP_PROVINCE": province, "LGSP_NDXP_URL": sim.url}
    )


def test_settings_follow_the_province() -> None:
    gialai = connector.Settings.from_env({"LGSP_PROVINCE": "gialai"})
    assert (gialai.client_id, gialai.portal_username) == ("gialai.lgsp", "gialai.lgsp")
    assert gialai.madonvi == "000.00.00.H21"
    # Without a province, Đồng Tháp's as ever; what is set explicitly wins.
    assert connector.Settings.from_env({}) == connector.Settings()
    named = connector.Settings.from_env({"LGSP_PROVINCE": "phutho", "LGSP_NDXP_CLIENT_ID": "x"})
    assert named.client_id == "x"
    with pytest.raises(ValueError, match="LGSP_PROVINCE"):
        connector.Settings.from_env({"LGSP_PROVINCE": "hanoi"})


async def test_two_copies_are_two_provinces_at_ndxp(sim: Simulator) -> None:
    before = connector.connector()
    dongthap, gialai = copy_for("dongthap", sim), copy_for("gialai", sim)
    async with (
        running_bus(installed=False, sidecars=False, adapters=[dongthap]) as a,
        running_bus(installed=False, sidecars=False, adapters=[gialai]) as b,
    ):
        lookup = CITIZEN_LOOKUP_V1.examples[0]
        answer = await a.call(CITIZEN_LOOKUP_V1.service, lookup.request)
        assert (answer.status, answer.json) == (200, lookup.response)
        ndxp_a, ndxp_b = connector.connector(dongthap), connector.connector(gialai)
        assert ndxp_a is not ndxp_b
        assert (ndxp_a.settings.client_id, ndxp_b.settings.client_id) == (
            "dongthap.lgsp",
            "gialai.lgsp",
        )
        assert ndxp_a.holds_token
        assert not ndxp_b.holds_token
        # The portal keeps gialai's dossier under gialai's agency code.
        sync = DOSSIER_SYNC_V1.examples[0]
        answer = await b.call(DOSSIER_SYNC_V1.service, sync.request)
        assert answer.status == 200, answer.json
        (synced,) = list(sim.dossiers)
        assert synced.madonvi == "000.00.00.H21"
        assert sim.calls["token"] == 2  # one token each
        # Each shows its own status on its own bus.
        shown_a = {s.instance: s.values for s in a.gateway_transport.statuses()}[dongthap.instance]
        shown_b = {s.instance: s.values for s in b.gateway_transport.statuses()}[gialai.instance]
        assert (shown_a["tokens_obtained"], shown_b["tokens_obtained"]) == (1, 1)
        # Starting one copy afresh leaves the other alone.
        connector.configure(copy=gialai, breaker_failures=1)
        assert not connector.connector(gialai).holds_token
        assert connector.connector(gialai).settings.breaker_failures == 1
        assert connector.connector(dongthap).holds_token
    # The module-level connector is the one it was.
    assert connector.connector() is before
    with pytest.raises(ValueError, match="not a copy"):
        connector.connector(Adapter("ndxp", agency="another system"))
