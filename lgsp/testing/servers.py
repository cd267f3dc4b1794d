"""What the kit's private servers (RabbitMQ, PostgreSQL) share: the
account their processes run as, and free ports on the loopback address."""

from __future__ import annotations

import os
import random
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypedDict

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Account:
    """Who a server's processes run as."""

    uid: int
    gid: int
    name: str

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    def popen_args(self) -> PopenAccount:
        """subprocess arguments that run a child as this account."""
        if self.is_self:
            return {}
        # extra_groups=[] drops root's supplementary groups too.
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


class PopenAccount(TypedDict, total=False):
    user: int
    group: int
    extra_groups: list[int]


class Stoppable(ABC):
    """A private server (or a cluster of them) as a context manager that
    stops it on exit."""

    @abstractmethod
    def stop(self) -> None:
        """Stop it and remove its folders; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


BELOW_EPHEMERAL = range(20_000, 32_000)
"""Where :func:`free_ports_in_a_row` looks: under Linux's default range of
ephemeral ports (32768-60999), which outgoing connections take at any time."""


def free_ports_in_a_row(count: int) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1 right now,
    for a server that listens on a base port and the ones after it (the
    metrics ports of ``lgsp gateway --workers N``), every one checked. They
    are chosen under the ephemeral range: a free port in it may be taken by
    an outgoing connection before the server gets to it."""
    for base in random.sample(BELOW_EPHEMERAL, 200):
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((LOOPBACK, port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise OSError(f"no {count} consecutive free ports on {LOOPBACK}")


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (held together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
