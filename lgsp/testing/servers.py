"""What the kit's private servers (RabbitMQ, PostgreSQL) share: the
account their processes run as, and free ports on the loopback address."""

from __future__ import annotations

import os
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
