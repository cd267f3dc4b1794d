"""The blocklist the security monitoring centre (SOC) publishes: addresses
(single IPs and CIDR networks) and client ids the gateway refuses with 403
``auth.blocked`` on every route but health.

Every gateway process reads it itself, every few seconds, from an http(s)
URL (with ``If-None-Match``, so an unchanged list costs a 304) or a file,
and swaps it in whole: no restart, no process told by another. When the
source fails or publishes something unreadable, the last good list stays
in force and the failure is logged and counted. The format (docs/soc.md)::

    {"addresses": ["203.0.113.7", "198.51.100.0/24"], "clients": ["dongthap.viewer"]}
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import structlog
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ConfigDict, ValidationError

from lgsp.errors import LgspError

log = structlog.get_logger("lgsp.blocklist")

ENTRIES = Gauge("lgsp_soc_blocklist_entries", "Entries of the SOC blocklist in force", ["kind"])
FAILURES = Counter(
    "lgsp_soc_blocklist_failures_total",
    "Reads of the SOC blocklist that failed (the last good list stayed in force)",
)
STALE = Gauge("lgsp_soc_blocklist_stale", "1 while the last read of the SOC blocklist failed")
REFUSED = Counter("lgsp_blocked_requests_total", "Requests refused by the SOC blocklist", ["by"])


class Blocked(LgspError):
    """The caller (its address or its client id) is on the SOC's blocklist."""

    status = 403
    code = "auth.blocked"
    title = "Blocked by the security monitoring centre"


class _Published(BaseModel):
    # The SOC may add fields of its own (a version, a reason): ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)

    addresses: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Blocklist:
    """One published list, ready for a lookup per request: single addresses
    in one set, networks as sets of their numbers by prefix length."""

    exact: frozenset[str] = frozenset()
    networks: tuple[tuple[int, int, frozenset[int]], ...] = ()
    """(IP version, prefix length, network numbers shifted to that length)."""
    clients: frozenset[str] = frozenset()
    entries: int = 0

    @classmethod
    def parse(cls, raw: bytes) -> Blocklist:
        """The list in ``raw`` (JSON); ValueError naming what is wrong."""
        try:
            published = _Published.model_validate_json(raw)
        except ValidationError as exc:
            raise ValueError(f"not a blocklist: {exc.errors(include_input=False)}") from None
        try:
            return cls.of(published.addresses, published.clients)
        except ValueError as exc:
            raise ValueError(f"not a blocklist: {exc}") from None

    @classmethod
    def of(cls, addresses: Iterable[str], clients: Iterable[str] = ()) -> Blocklist:
        exact: set[str] = set()
        by_prefix: dict[tuple[int, int], set[int]] = {}
        count = 0
        for entry in addresses:
            network = ipaddress.ip_network(entry.strip(), strict=False)
            count += 1
            if network.prefixlen == network.max_prefixlen:
                exact.add(str(network.network_address))
                continue
            shift = network.max_prefixlen - network.prefixlen
            key = (network.version, network.prefixlen)
            by_prefix.setdefault(key, set()).add(int(network.network_address) >> shift)
        blocked_clients = frozenset(c.strip() for c in clients if c.strip())
        networks = tuple((v, p, frozenset(n)) for (v, p), n in sorted(by_prefix.items()))
        return cls(frozenset(exact), networks, blocked_clients, count + len(blocked_clients))

    def blocks_address(self, address: str | None) -> bool:
        if address is None:
            return False
        if address in self.exact:
            return True
        if not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        number, width = int(ip), ip.max_prefixlen
        return any(
            version == ip.version and (number >> (width - prefix)) in numbers
            for version, prefix, numbers in self.networks
        )

    def blocks_client(self, client: str | None) -> bool:
        return client is not None and client in self.clients


@dataclass(slots=True)
class BlocklistSource:
    """Where the list is read from, and what was last read there."""

    location: str
    current: Blocklist = field(default_factory=Blocklist)
    _etag: str | None = None
    _stamp: tuple[int, int] | None = None
    _session: aiohttp.ClientSession | None = None

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    async def refresh(self) -> bool:
        """Read the list again; True when a new one came into force. A
        failure keeps the list in force, logs and counts it."""
        try:
            raw = await (self._fetch() if self.is_url else self._read())
            if raw is None:
                STALE.set(0)
                return False
            fresh = Blocklist.parse(raw)
        except (OSError, ValueError, aiohttp.ClientError, TimeoutError) as exc:
            FAILURES.inc()
            STALE.set(1)
            # The location may be a URL with credentials: said without it.
            log.warning(
                "blocklist.read_failed",
                error=str(exc) or type(exc).__name__,
                kept_entries=self.current.entries,
            )
            self._etag = self._stamp = None
            return False
        STALE.set(0)
        changed = fresh != self.current
        self.current = fresh
        ENTRIES.labels("address").set(fresh.entries - len(fresh.clients))
        ENTRIES.labels("client").set(len(fresh.clients))
        if changed:
            log.info(
                "blocklist.loaded",
                addresses=fresh.entries - len(fresh.clients),
                clients=len(fresh.clients),
            )
        return changed

    async def _read(self) -> bytes | None:
        path = Path(self.location)
        stat = await asyncio.to_thread(path.stat)
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return None
        raw = await asyncio.to_thread(path.read_bytes)
        self._stamp = stamp
        return raw

    async def _fetch(self) -> bytes | None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        headers = {"If-None-Match": self._etag} if self._etag else {}
        async with self._session.get(self.location, headers=headers) as response:
            if response.status == 304:
                return None
            if response.status != 200:
                raise ValueError(f"the blocklist's source answered {response.status}")
            raw = await response.read()
            self._etag = response.headers.get("ETag")
            return raw

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @contextlib.asynccontextmanager
    async def polling(self, every_s: float) -> AsyncIterator[BlocklistSource]:
        """Read now, then every ``every_s`` seconds while the context lasts."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s):
                await self.refresh()

        async def poll() -> None:
            while True:
                await asyncio.sleep(every_s)
                await self.refresh()

        task = asyncio.create_task(poll(), name="lgsp-blocklist")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.close()
