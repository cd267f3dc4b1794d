"""The simulated NDXP's configuration and state: its clients, the faults in
force, the tokens it issued, what the national portal holds, and how many
calls it answered (tests assert on those)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from aiohttp import web

from lgsp_adapters.ndxp.dossiers import DossierStore
from lgsp_adapters.ndxp.faults import Faults
from lgsp_adapters.ndxp.tokens import TokenStore


@dataclass(frozen=True)
class NdxpClient:
    """A system allowed to call NDXP, and the APIs it is subscribed to
    (``dancu``: population database, ``dvcqg``: public service portal,
    ``lgsp``: forwarding into a province's LGSP)."""

    secret: str
    apis: frozenset[str]
    description: str = ""


@dataclass(frozen=True)
class PortalAccount:
    """An account of the portal's adapter: a password and the agency code
    (``madonvi``) its dossiers are synchronised under."""

    password: str
    madonvi: str


DEMO_CLIENTS: Final[Mapping[str, NdxpClient]] = MappingProxyType(
    {
        "dongthap.lgsp": NdxpClient(
            "demo-lgsp-ndxp-secret",
            frozenset({"dancu", "dvcqg"}),
            "Đồng Tháp's LGSP, reaching the national databases",
        ),
        "bnnmt.datdai": NdxpClient(
            "demo-bnnmt-secret",
            frozenset({"lgsp"}),
            "Bộ Nông nghiệp và Môi trường (land), a national caller of provincial services",
        ),
    }
)
DEMO_PORTAL_ACCOUNTS: Final[Mapping[str, PortalAccount]] = MappingProxyType(
    {"dongthap.lgsp": PortalAccount("demo-dvcqg-password", "000.00.00.H20")}
)
LOCAL_NETWORKS: Final = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
"""Where calls may come from by default: this machine and private networks
(containers); others get 101 IP_DISALLOWED, as NDXP only answers the
addresses a province registered."""


@dataclass(frozen=True)
class SimulatorConfig:
    """How a simulated NDXP runs."""

    host: str = "127.0.0.1"
    port: int = 8090
    """0: any free port (tests)."""
    lgsp_url: str = "http://127.0.0.1:8080"
    """The province's LGSP gateway, where national requests are forwarded."""
    province: str = "dongthap"
    """The province's name in forwarding paths (``/lgsp/{province}/{service}``)."""
    lgsp_client_id: str = "ndxp.national"
    lgsp_client_secret: str = "demo-ndxp-secret"
    token_ttl_s: float = 3600.0
    """Lifetime of access tokens and portal sessions."""
    forward_timeout_s: float = 30.0
    clients: Mapping[str, NdxpClient] = field(default_factory=lambda: DEMO_CLIENTS)
    portal_accounts: Mapping[str, PortalAccount] = field(
        default_factory=lambda: DEMO_PORTAL_ACCOUNTS
    )
    faults: Faults = field(default_factory=Faults)
    seed: int | None = None
    """Seed of the fault dice (error rate, jitter); None: random."""
    allowed_networks: tuple[str, ...] = LOCAL_NETWORKS
    admin_from_anywhere: bool = False
    """The admin and read-back routes answer only this machine unless set."""

    def __post_init__(self) -> None:
        if self.token_ttl_s <= 0:
            raise ValueError("token_ttl_s must be positive")


FaultsListener = Callable[[Faults], Awaitable[None]]


class Simulator:
    """One simulated NDXP's state."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.url = f"http://{config.host}:{config.port}"
        """Where it listens (the real port once running)."""
        self.tokens = TokenStore(config.token_ttl_s)
        self.sessions = TokenStore(config.token_ttl_s)
        """Sessions of the portal's adapter."""
        self.dossiers = DossierStore()
        self.calls: Counter[str] = Counter()
        """Calls answered, by operation (route name, or the portal's service)."""
        self.unauthorized = 0
        """Calls refused for a missing, forged or expired token."""
        self._counted = asyncio.Event()
        self.random = random.Random(config.seed)
        self._faults = config.faults
        self._outage_ends: float | None = None
        self._fail_next = config.faults.fail_next
        self._listeners: list[FaultsListener] = []
        self._start_outage(config.faults)

    def describe(self) -> str:
        """Its line in ``lgsp up``'s banner."""
        return f"NDXP (sim)  {self.url}   faults {self.url}/admin/faults"

    @property
    def faults(self) -> Faults:
        """The faults in force now (an outage past its duration is over)."""
        if self._outage_ends is not None and time.monotonic() >= self._outage_ends:
            self._faults = self._faults.model_copy(update={"outage": "none", "outage_s": None})
            self._outage_ends = None
        return self._faults

    def outage_remaining(self) -> float | None:
        return None if self._outage_ends is None else max(0.0, self._outage_ends - time.monotonic())

    async def set_faults(self, faults: Faults) -> None:
        """Put these faults in force (replacing the others); returns once the
        platform behaves accordingly (e.g. has stopped listening)."""
        self._faults = faults
        self._fail_next = faults.fail_next
        self._start_outage(faults)
        for listener in self._listeners:
            await listener(faults)

    def on_faults(self, listener: FaultsListener) -> None:
        self._listeners.append(listener)

    def count(self, operation: str) -> None:
        """Note a call of this operation."""
        self.calls[operation] += 1
        self._counted.set()

    async def called(self, operation: str, times: int) -> None:
        """Return once ``operation`` has been called ``times`` times in all
        (bound it with ``asyncio.timeout``)."""
        while self.calls[operation] < times:
            self._counted.clear()
            await self._counted.wait()

    def take_failure(self) -> bool:
        """Whether this call is to fail (a burst first, then the error rate)."""
        if self._fail_next > 0:
            self._fail_next -= 1
            return True
        rate = self._faults.error_rate
        return rate > 0 and self.random.random() < rate

    def expire_tokens(self) -> None:
        """Expire every access token and portal session now."""
        self.tokens.expire_all()
        self.sessions.expire_all()

    @property
    def total_calls(self) -> int:
        """Every call that reached the platform (counted once per HTTP call)."""
        return sum(n for op, n in self.calls.items() if not op.startswith("dvcqg."))

    def _start_outage(self, faults: Faults) -> None:
        duration = faults.outage_duration()
        self._outage_ends = None if duration is None else time.monotonic() + duration


SIMULATOR: Final = web.AppKey("ndxp.simulator", Simulator)
