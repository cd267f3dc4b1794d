"""The simulated NDXP's clients, as a national system or a province's LGSP
signs in to it."""

from __future__ import annotations

import aiohttp

from lgsp_adapters.ndxp import Simulator

PROVINCE = ("dongthap.lgsp", "demo-lgsp-ndxp-secret")
MINISTRY = ("bnnmt.datdai", "demo-bnnmt-secret")


async def token(
    http: aiohttp.ClientSession, sim: Simulator, client: tuple[str, str] = PROVINCE
) -> str:
    r = await http.post(
        f"{sim.url}/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client[0],
            "client_secret": client[1],
        },
    )
    assert r.status == 200, await r.text()
    return str((await r.json())["access_token"])
