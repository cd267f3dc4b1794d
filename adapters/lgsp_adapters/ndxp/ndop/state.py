"""NDOP's state, as its routes find it on the application: the reports, the
population lookup the tracker checks its proof against, and the tracker's
allowances."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from lgsp_adapters.ndxp.ndop.attempts import Attempts
from lgsp_adapters.ndxp.ndop.store import TraceStore

PopulationLookup = Callable[[str], Awaitable[dt.date | None]]
"""The birth date the national population database holds for a personal id,
or None when it has nobody with it."""

API: Final = "ndop"
"""The API an NDXP client must be subscribed to, to report or to ask."""


@dataclass(frozen=True)
class Ndop:
    """One NDOP: its reports, its view of the population, its allowances."""

    population: PopulationLookup
    store: TraceStore
    attempts: Attempts


NDOP: Final = web.AppKey("ndxp.ndop", Ndop)
