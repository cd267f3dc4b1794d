"""What the kit's private servers (RabbitMQ, PostgreSQL) share: the
account their processes run as, and free ports on the loopback address."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TypedDict

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
