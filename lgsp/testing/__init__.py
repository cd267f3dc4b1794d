"""Testing kit: run a whole bus inside a test, on the memory transport or a
real RabbitMQ, and call it as a client would.

With lgsp installed, pytest loads the plugin (:mod:`lgsp.testing.plugin`):
the ``lgsp_bus`` fixture and its ``--lgsp-transport`` switch
(docs/integrators.md). :mod:`lgsp.testing.rabbitmq` starts a private RabbitMQ
node.
"""

from lgsp.testing.bus import TEST_CLIENT, Answer, Bus, TransportKind, running_bus

__all__ = ["TEST_CLIENT", "Answer", "Bus", "TransportKind", "running_bus"]
