"""The simulated NDXP's configuration and state: its clients (each province's
LGSP, and a ministry), the provinces it links and where their gateways are,
the faults in force, the tokens it issued, what the national portal holds,
how many calls it answered and the exchanges it forwarded (tests assert on
those)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from aiohttp import web

from lgsp_adapters.ndxp.dossiers import DossierStore
from lgsp_adapters.ndxp.faults import Faults
from lgsp_adapters.ndxp.tokens import TokenStore
from lgsp_adapters.provinces import DEFAULT as DEFAULT_PROVINCE
from lgsp_adapters.provinces import PROVINCES

LGSP_SECRET: Final = "demo-lgsp-ndxp-secret"
"""Every demo province's LGSP signs in to NDXP with this secret."""
LGSP_APIS: Final = frozenset({"dancu", "dvcqg", "lgsp", "ndop"})


@dataclass(frozen=True)
class NdxpClient:
    """A system allowed to call NDXP, and the APIs it is subscribed to
    (``dancu``: population database, ``dvcqg``: public service portal,
    ``lgsp``: forwarding into a province's LGSP, ``ndop``: reporting
    exchanges to NDOP)."""

    secret: str
    apis: frozenset[str]
    description: str = ""
    province: str | None = None
    """The province whose LGSP this client is: the origin NDXP names in what
    it forwards for it, and the province its statistics are of. None: a
    national system (a ministry)."""


@dataclass(frozen=True)
class PortalAccount:
    """An account of the portal's adapter: a password and the agency code
    (``madonvi``) its dossiers are synchronised under."""

    password: str
    madonvi: str


DEMO_CLIENTS: Final[Mapping[str, NdxpClient]] = MappingProxyType(
    {
        **{
            f"{key}.lgsp": NdxpClient(
                LGSP_SECRET,
                LGSP_APIS,
                f"{province.name}'s LGSP, reaching the national databases and other provinces",
                province=key,
            )
            for key, province in PROVINCES.items()
        },
        "bnnmt.datdai": NdxpClient(
            "demo-bnnmt-secret",
            frozenset({"lgsp"}),
            "Bộ Nông nghiệp và Môi trường (land), a national caller of provincial services",
        ),
    }
)
DEMO_PORTAL_ACCOUNTS: Final[Mapping[str, PortalAccount]] = MappingProxyType(
    {
        f"{key}.lgsp": PortalAccount("demo-dvcqg-password", province.madonvi)
        for key, province in PROVINCES.items()
    }
)
"""Each province's account at the portal, syncing under its agency code."""
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
    """The one province's LGSP gateway when ``provinces`` is not given."""
    provinces: Mapping[str, str] | None = None
    """Each province of the network (its name in forwarding paths,
    ``/lgsp/{province}/{service}``) and its LGSP gateway's URL. A network's
    runner fills it as the provinces start, so it is read at each call.
    None: one province, ``dongthap`` at ``lgsp_url``."""
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
    data_dir: Path | None = None
    """The platform's folder: NDOP keeps its reports in ``data_dir/ndop``
    (None: in memory)."""

    def __post_init__(self) -> None:
        if self.token_ttl_s <= 0:
            raise ValueError("token_ttl_s must be positive")

    @property
    def gateways(self) -> Mapping[str, str]:
        """Each province NDXP links now, and its gateway's URL."""
        return {DEFAULT_PROVINCE: self.lgsp_url} if self.provinces is None else self.provinces


@dataclass(frozen=True)
class Exchange:
    """A call NDXP forwarded, as its own exchange log keeps it."""

    request_id: str
    origin: str | None
    """The calling province (from its LGSP's credentials); None: a ministry."""
    origin_client: str | None
    """The client of the calling LGSP that made the call, as that LGSP says."""
    caller: str
    """NDXP's client that sent it (``gialai.lgsp``, ``bnnmt.datdai``)."""
    target: str
    service: str
    status: int
    """The target's answer, or NDXP's 502 (unreachable) / 504 (no answer in time)."""
    duration_ms: float
    at: str
    """When NDXP received it (ISO 8601, UTC)."""

    def as_dict(self) -> dict[str, str | int | float | None]:
        return asdict(self)


MAX_EXCHANGES: Final = 10_000


class ExchangeLog:
    """NDXP's record of the calls it forwarded: the newest ``size``, in memory."""

    def __init__(self, size: int = MAX_EXCHANGES) -> None:
        self._kept: deque[Exchange] = deque(maxlen=size)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(list(self._kept))

    def __len__(self) -> int:
        return len(self._kept)

    def add(self, exchange: Exchange) -> None:
        self._kept.append(exchange)

    def find(self, *, request_id: str | None = None, limit: int = 100) -> list[Exchange]:
        """The newest ``limit`` exchanges (of one request id if given), oldest first."""
        found = [e for e in self._kept if request_id is None or e.request_id == request_id]
        return found[-limit:] if limit > 0 else []


def now_iso() -> str:
    """Now in UTC, ISO 8601 with its offset."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


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
        self.exchanges = ExchangeLog()
        """The calls NDXP forwarded between provinces (and from ministries)."""
        self._counted = asyncio.Event()
        self.random = random.Random(config.seed)
        self._faults = config.faults
        self._outage_ends: float | None = None
        self._fail_next = config.faults.fail_next
        self._listeners: list[FaultsListener] = []
        self._start_outage(config.faults)

    def describe(self) -> str:
        """Its line in ``lgsp up``'s banner."""
        return (
            f"NDXP (sim)  {self.url}   faults {self.url}/admin/faults   "
            f"NDOP's data tracker {self.url}/ndop/tracker"
        )

    @property
    def env(self) -> Mapping[str, str]:
        """What every province's adapters and sidecars are told of it."""
        return {"LGSP_NDXP_URL": self.url}

    async def warm(self) -> None:
        """Return once the national register over the provinces linked now
        is built (off the event loop): the first lookup must not wait for
        it (at a million citizens it takes seconds)."""
        from lgsp_adapters import dataset

        await dataset.national(self.config.gateways)

    def network(self, province: str) -> dict[str, str] | None:
        """How ``province``'s gateway reaches other provinces through NDXP
        and reports to NDOP (the fields of ``lgsp.config.NetworkConfig``),
        as its LGSP's client here; None when NDXP has no client for it."""
        client_id = f"{province}.lgsp"
        client = self.config.clients.get(client_id)
        if client is None or client.province != province:
            return None
        return {
            "hub_url": f"{self.url}/lgsp",
            "token_url": f"{self.url}/token",
            "trace_url": f"{self.url}/ndop/v1/traces",
            "client_id": client_id,
            "client_secret": client.secret,
        }

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
