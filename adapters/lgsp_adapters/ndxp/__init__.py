"""The simulated NDXP (Nền tảng tích hợp, chia sẻ dữ liệu quốc gia), the
national exchange platform provinces reach national databases through, and
the connector that is its client on the bus.

The simulator is a remote platform of its own (an aiohttp server speaking
NDXP's native formats, with faults on demand): OAuth2 tokens, the national
population database, the national public service portal, and forwarding of
calls between provinces (and from ministries) into a province's LGSP. Tests
run it with::

    async with running(SimulatorConfig(port=0, token_ttl_s=2)) as sim:
        connector.configure(url=sim.url)
        await sim.set_faults(Faults(error_rate=0.5))

The connector (:mod:`lgsp_adapters.ndxp.connector`, adapter ``ndxp``) serves
``population.citizen.lookup``, ``population.citizen.verify`` and
``dvcqg.dossier.sync`` on the bus through it.
"""

from lgsp_adapters.ndxp.faults import Faults
from lgsp_adapters.ndxp.server import create_app, platform, running
from lgsp_adapters.ndxp.simulator import (
    SIMULATOR,
    NdxpClient,
    PortalAccount,
    Simulator,
    SimulatorConfig,
)

__all__ = [
    "SIMULATOR",
    "Faults",
    "NdxpClient",
    "PortalAccount",
    "Simulator",
    "SimulatorConfig",
    "create_app",
    "platform",
    "running",
]
