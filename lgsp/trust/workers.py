"""Which of a gateway's workers this process is, when ``lgsp gateway
--workers N`` runs N gateway processes on one port.

The supervisor tells each worker its place in the environment
(``LGSP_GATEWAY_WORKER=<index>/<count>``), because what depends on it sits
below the command line: each worker counts 1/N of every client's quota
(:mod:`~lgsp.trust.quotas`) and keeps idempotency keys where the others see
them (:mod:`~lgsp.gateway.idempotency`). Any other process is a gateway of
its own: :func:`this_worker` is None.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

WORKER_ENV = "LGSP_GATEWAY_WORKER"

_VALUE = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")


@dataclass(frozen=True, slots=True)
class Worker:
    """Worker ``index`` (1 to ``count``) of the ``count`` gateway processes
    sharing one port and one data folder."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"worker {self.index} of {self.count}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, value: str) -> Worker:
        found = _VALUE.match(value)
        if found is None or int(found[1]) > int(found[2]):
            raise ValueError(
                f"{WORKER_ENV} must be <index>/<count>, 1 <= index <= count: {value!r}"
            )
        return cls(int(found[1]), int(found[2]))


def this_worker(environ: Mapping[str, str] = os.environ) -> Worker | None:
    """This process's place among its gateway's workers, or None when it is
    not one of several."""
    value = environ.get(WORKER_ENV)
    return Worker.parse(value) if value else None


def worker_count(environ: Mapping[str, str] = os.environ) -> int:
    """How many gateway processes share this one's port: 1 unless it is a worker."""
    worker = this_worker(environ)
    return 1 if worker is None else worker.count
