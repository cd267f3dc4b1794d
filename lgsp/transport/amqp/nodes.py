"""The broker's nodes: a URL that names every node of a cluster, and the
robust connection that goes to the next node whenever the one it is on is
lost or refuses.

One URL names the cluster, with the nodes comma-separated where a URL has
its one host::

    amqp://lgsp:secret@rabbit-1:5672,rabbit-2:5672,rabbit-3:5672/province

User, password, virtual host and query are the cluster's (a cluster shares
its users and virtual hosts), so a province's virtual host is added to such
a URL as to any other. A node without a port takes the scheme's (5672, or
5671 for ``amqps``). The transport connects to the first node that answers,
in the order given; after a loss, each attempt goes to the next node in turn.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Sequence
from typing import Any

from aio_pika import RobustConnection
from yarl import URL


def node_urls(url: str) -> list[str]:
    """One URL per node of ``url`` (a URL with one host gives itself).

    Raises :class:`ValueError` for a host list with an empty entry or a
    port that is not a number.
    """
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if "," not in hosts:
        return [url]
    nodes = []
    for host in hosts.split(","):
        _check_host(host.strip(), url)
        netloc = f"{userinfo}{at}{host.strip()}"
        nodes.append(urllib.parse.urlunsplit(parts._replace(netloc=netloc)))
    return nodes


_DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}

HEARTBEAT_S = 5
"""The AMQP heartbeat asked for unless the URL says (``?heartbeat=N``). The
broker closes a connection after about two missed ones, and with it takes
a hung process's consumers away: until then the gateway sends calls to it
(each a 504). aio-pika's default, 60 s, kept a hung provider's queue
"consumed" for a minute or more; RabbitMQ advises no less than 5 s."""


def with_heartbeat(url: URL) -> URL:
    """``url`` asking for :data:`HEARTBEAT_S` unless it asks for its own."""
    if "heartbeat" in url.query:
        return url
    return url.update_query(heartbeat=HEARTBEAT_S)


def node_address(url: str | URL) -> str:
    """``host:port`` of a one-node URL, for log lines (never the password)."""
    parsed = URL(url)
    port = parsed.explicit_port or _DEFAULT_PORTS.get(parsed.scheme)
    return f"{parsed.host_subcomponent}:{port}"


def masked(url: str) -> str:
    """The URL with its password hidden, fit for a log line (a URL naming
    several nodes too)."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if not colon:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***{at}{hosts}"))


def _check_host(host: str, url: str) -> None:
    name, colon, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not host or (colon and not name) or (colon and not port.isdigit()):
        raise ValueError(
            f"{masked(url)}: each node of the list must be host or host:port, got {host!r}"
        )


class NodesConnection(RobustConnection):
    """aio-pika's robust connection, on one of several nodes.

    aio-pika reconnects to its one URL; this connection changes its URL to
    the next node each time the connection closes or an attempt to open it
    fails, so the robust connection's own retry loop (and its restoring of
    channels, declarations and consumers) goes round the cluster. Back on a
    node after a loss, it waits ``reconnect_interval`` before restoring.
    """

    def __init__(self, urls: Sequence[str], first: int = 0, **kwargs: Any) -> None:
        if not urls:
            raise ValueError("no broker node to connect to")
        self._nodes = [with_heartbeat(URL(u)) for u in urls]
        self._at = first % len(self._nodes)
        super().__init__(self._nodes[self._at], **kwargs)

    async def _on_connected(self) -> None:
        if self.connection_attempt:
            # Back after a loss: let the cluster see it before the channels,
            # declarations and consumers are restored (new leaders for the
            # lost node's quorum queues are elected in about half a second).
            # On RabbitMQ 3.10 a channel that first uses a quorum queue during
            # that election keeps sending to the old leader: events nacked,
            # requests lost.
            await asyncio.sleep(self.reconnect_interval)
        await super()._on_connected()

    @property
    def node(self) -> str:
        """``host:port`` of the node this connection is on (or tries next)."""
        return node_address(self.url)

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        try:
            # Its close callbacks still see the node that was lost.
            await super()._on_connection_close(closing)
        finally:
            # Lost, or an attempt failed: the next attempt goes to the next node.
            self._at = (self._at + 1) % len(self._nodes)
            self.url = self._nodes[self._at]
