"""Testing kit: run a whole bus inside a test, on the memory transport or a
real RabbitMQ, and call it as a client would.

With lgsp installed, pytest loads the plugin (:mod:`lgsp.testing.plugin`):
the ``lgsp_bus`` fixture and its ``--lgsp-transport`` switch, and the
``lgsp_rabbitmq_url`` / ``lgsp_rabbitmq_node`` fixtures (docs/integrators.md).
:func:`running_bus` runs a bus outside the fixture, :func:`running_network`
a network of provinces; :mod:`lgsp.testing.rabbitmq` starts a private
RabbitMQ node, :mod:`lgsp.testing.postgres` a private PostgreSQL server
(the ``lgsp_postgres_url`` fixture gives each test a database of its own).
The project's own test suite runs on this kit.
"""

from lgsp.testing.bus import TEST_CLIENT, Answer, Bus, TransportKind, running_bus
from lgsp.testing.network import Network, running_network

__all__ = [
    "TEST_CLIENT",
    "Answer",
    "Bus",
    "Network",
    "TransportKind",
    "running_bus",
    "running_network",
]
