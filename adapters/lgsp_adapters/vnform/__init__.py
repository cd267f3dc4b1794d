"""VNForm (Nền tảng khảo sát, thu thập ý kiến người dân), the national
survey platform procedure systems integrate for citizens' feedback, and
the province's connector to it.

The simulator (:mod:`~lgsp_adapters.vnform.server`, ``lgsp vnform-sim``,
a national platform of ``lgsp up``) holds a survey form per procedure,
takes the provinces' invitations and the citizens' answers, and delivers
each answer to its province by a webhook signed with Ed25519 in FormSG's
manner (:mod:`~lgsp_adapters.vnform.signature`), retried with backoff.

The connector (:mod:`~lgsp_adapters.vnform.connector`, adapter
``vnform``) creates an invitation for each ``onestop.feedback.invited``,
and receives the webhooks (:mod:`~lgsp_adapters.vnform.receiver`):
forged or replayed deliveries are refused, the others published on
``vnform.feedback.submitted``, de-identified. Tests run the simulator with::

    async with running(VnformConfig(port=0, retry_delays_s=(0.05,))) as sim:
        ...
        await sim.settled()
"""

from lgsp_adapters.vnform.server import create_app, platform, running
from lgsp_adapters.vnform.signature import Signed, Signer, Verifier
from lgsp_adapters.vnform.simulator import SIMULATOR, Simulator, VnformConfig

__all__ = [
    "SIMULATOR",
    "Signed",
    "Signer",
    "Simulator",
    "Verifier",
    "VnformConfig",
    "create_app",
    "platform",
    "running",
]
