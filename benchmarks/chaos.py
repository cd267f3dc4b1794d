"""Faults during steady load, against real processes, with what each cost.

The bus (a private RabbitMQ node, ``lgsp gateway``, the land database in
``lgsp adapters``, and a subscriber of its own, :mod:`benchmarks.chaos_counter`)
runs under a steady load of events (published through the gateway, each
retried with its ``Idempotency-Key`` until accepted) and synchronous calls
(``land.parcel.lookup``, each with a 2 s deadline). One fault at a time is
made in the middle of the load; then the suite waits until the subscriber
has processed what was accepted, and counts:

- events accepted (202), delivered (processed at least once), lost
  (accepted, never processed), processed twice (by event id);
- synchronous calls by how they ended: 200, 503, 504 (within the deadline
  or not), any other status, no answer at all (a connection lost with the
  request on it), refused (a connection the gateway did not take);
- seconds to recover: from the fault's end to the first 200 and the first
  202 after it.

Faults: the broker restarted; the gateway killed (``kill -9``) and
started again; the subscriber killed and started again; the land
database's adapter killed in the middle of calls and started again;
PostgreSQL (the store of the exchange log, the clients and the subscriber's
inbox) restarted; and, on a second bus over a three-node cluster with
quorum queues, the node the processes are connected to killed and brought
back.

Run: ``python -m benchmarks.chaos`` (``make chaos``: 100,000 events per
fault, ``CHAOS_EVENTS`` to change it); writes ``benchmarks/results/chaos.json``.
The suite's bounded run is ``tests/e2e/test_chaos.py``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.chaos_counter import SUBSCRIBER, TOPIC
from benchmarks.fleet import ROOT, BenchError, Fleet, Server, free_port
from benchmarks.report import host
from lgsp.testing.postgres import PostgresNode, start_postgres
from lgsp.testing.rabbitmq import RabbitCluster, RabbitNode, start_cluster, start_node

RESULTS = Path(__file__).parent / "results" / "chaos.json"
CLIENT = ("dongthap.onestop", "demo-onestop-secret")  # the demo province's (PROTOCOL.md)
CALL_DEADLINE_MS = 2000
LATE_SLACK_S = 0.5
"""An answer later than its deadline by more than this is counted late."""
PUBLISHERS = 8
CALLERS = 4
DRAIN_S = 120.0
RECOVERY_BOUND_S = 120.0
"""Longest wait for the first 200 and 202 after a fault's end."""
"""Longest wait, after the load, for the subscriber to catch up."""
PAST_PLAN = 10
"""A fault's load may publish up to this many times its planned events while
the first 202 after the fault's end is still to be seen: on a cluster the
bus keeps accepting events while a node is killed and brought back (6 s),
and the planned events can all be accepted before the fault has ended."""
PARCEL = {"maXa": "29869", "soHieuToBanDo": 12, "soThuTuThua": 345}


@dataclass
class Figures:
    """What one fault cost."""

    fault: str
    accepted: int = 0
    delivered: int = 0
    lost: int = 0
    processed_twice: int = 0
    unacknowledged_delivered: int = 0
    """Processed, but the caller never got its 202 (lost with a crash) and
    published it again under its key: told apart, not counted as lost."""
    calls: dict[str, int] = field(default_factory=dict)
    late_calls: int = 0
    recovered_s: float | None = None
    longest_gap_s: float = 0.0
    """The longest time without a 200 or without a 202, from the fault's
    start to the end of the load: how long the bus did not serve."""
    fault_s: float = 0.0
    load_s: float = 0.0

    @property
    def calls_total(self) -> int:
        return sum(self.calls.values())

    def row(self) -> str:
        calls = ", ".join(f"{k} {v:,}" for k, v in sorted(self.calls.items()))
        recovered = "-" if self.recovered_s is None else f"{self.recovered_s:.1f}"
        return (
            f"{self.fault:<22}{self.accepted:>9,}{self.delivered:>10,}{self.lost:>6}"
            f"{self.processed_twice:>7}{self.late_calls:>6}{recovered:>10}"
            f"{self.longest_gap_s:>6.1f}   {calls}"
        )


HEADER = (
    f"{'fault':<22}{'accepted':>9}{'delivered':>10}{'lost':>6}{'twice':>7}{'late':>6}"
    f"{'recover s':>10}{'gap s':>6}   calls by outcome"
)


class Bus:
    """The processes under test, each restartable as it was started: on one
    RabbitMQ node with the bus's state on PostgreSQL, or on a three-node
    cluster with quorum queues."""

    def __init__(
        self,
        work: Path,
        *,
        node: RabbitNode | None = None,
        cluster: RabbitCluster | None = None,
        postgres: PostgresNode | None = None,
    ) -> None:
        self.work = work
        self._node = node
        self._cluster = cluster
        self._postgres = postgres
        self.amqp_url = cluster.url if cluster is not None else self.node.url
        self.fleet = Fleet(work / "logs")
        self.fleet.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.counted = work / "counted.txt"
        self._argv: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.servers: dict[str, Server] = {}

    def _lgsp(self) -> list[str]:
        return [sys.executable, "-m", "lgsp.cli", "--log-format", "json"]

    @property
    def node(self) -> RabbitNode:
        if self._node is None:
            raise BenchError("this bus runs on a cluster, not one node")
        return self._node

    @property
    def cluster(self) -> RabbitCluster:
        if self._cluster is None:
            raise BenchError("this bus runs on one node, not a cluster")
        return self._cluster

    @property
    def postgres(self) -> PostgresNode:
        if self._postgres is None:
            raise BenchError("this bus keeps its state in its data folders, not PostgreSQL")
        return self._postgres

    def start(self) -> None:
        url = self.amqp_url
        # One environment for every process: the queue type must agree.
        env = {"LGSP_AMQP_QUEUE_TYPE": "quorum" if self._cluster is not None else "classic"}
        if self._postgres is not None:
            env["LGSP_STORE_URL"] = self._postgres.url
        self._define(
            "gateway",
            [*self._lgsp(), "gateway", "--amqp-url", url, "--port", str(self.port),
             "--data-dir", str(self.work / "gateway")],
            env,
        )  # fmt: skip
        self._define(
            "land",
            [*self._lgsp(), "adapters", "--amqp-url", url, "--data-dir", str(self.work / "land"),
             "land"],
            env,
        )  # fmt: skip
        self._define(
            "subscriber",
            [*self._lgsp(), "adapter", "run", "benchmarks.chaos_counter:adapter", "--amqp-url",
             url, "--data-dir", str(self.work / "subscriber")],
            {**env, "CHAOS_COUNTER_FILE": str(self.counted), "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        for name in ("subscriber", "land", "gateway"):
            self.spawn(name)

    def _define(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self._argv[name] = (argv, {"PYTHONUNBUFFERED": "1", **env})

    def spawn(self, name: str) -> None:
        argv, env = self._argv[name]
        self.servers[name] = self.fleet.spawn(f"{name}-{len(self.fleet.servers)}", argv, env)

    def kill(self, name: str) -> None:
        """``kill -9`` the process (its whole group), and wait for it to be gone."""
        process = self.servers[name].process
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        self.fleet.stop()


# -- the load ----------------------------------------------------------------------


@dataclass
class Load:
    """Events and calls against the gateway until told to stop."""

    base: str
    first_event: int
    events: int
    accepted: dict[str, int] = field(default_factory=dict)
    """Accepted event ids, by the number of the event they carry."""
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    late_calls: int = 0
    since: float | None = None
    """The fault's end, once it has ended."""
    call_oks: list[float] = field(default_factory=list)
    event_oks: list[float] = field(default_factory=list)
    """When each 200 and each 202 came (monotonic): the gaps between them."""
    first_call_after: float | None = None
    first_event_after: float | None = None
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    _next: int = 0
    _token: str = ""
    _stop: bool = False

    async def run(self, session: aiohttp.ClientSession) -> None:
        self._next = self.first_event
        self._token = await token(session, self.base)
        await asyncio.gather(
            *(self._publisher(session) for _ in range(PUBLISHERS)),
            *(self._caller(session) for _ in range(CALLERS)),
        )

    def stop(self) -> None:
        self._stop = True

    def fault_ended(self, at: float) -> None:
        self.since = at

    @property
    def recovered_s(self) -> float | None:
        """Seconds from the fault's end to the first 200 and the first 202."""
        if self.since is None or self.first_call_after is None or self.first_event_after is None:
            return None
        return max(self.first_call_after, self.first_event_after) - self.since

    @property
    def done(self) -> bool:
        return len(self.accepted) >= self.events

    async def _publisher(self, session: aiohttp.ClientSession) -> None:
        # Past the planned events while recovery is still to be seen (a
        # fault that lasted longer than the rest of the load), up to PAST_PLAN times them.
        while not self._stop and (
            self._next < self.first_event + self.events
            or (
                self.recovered_s is None and self._next < self.first_event + PAST_PLAN * self.events
            )
        ):
            n = self._next
            self._next += 1
            while not self._stop:
                event_id = await self._publish(session, n)
                if event_id is not None:
                    self.accepted[event_id] = n
                    self.event_oks.append(time.monotonic())
                    if self.since is not None and self.first_event_after is None:
                        self.first_event_after = time.monotonic()
                    self.progress.set()
                    break
                await asyncio.sleep(0.05)  # a caller's back-off before its retry

    async def _publish(self, session: aiohttp.ClientSession, n: int) -> str | None:
        body = {
            "maHoSo": f"000.00.00.H20-{250601 + n // 9999 % 28:06d}-{n % 9999 + 1:04d}",
            "maTTHC": "1.004873",
            "trangThai": "2",
            "thoiDiem": "2025-06-06T09:30:00+07:00",
            "ghiChu": f"chaos {n}",
        }
        headers = {"Authorization": f"Bearer {self._token}", "Idempotency-Key": f"chaos-{n}"}
        try:
            async with session.post(
                f"{self.base}/v1/events/{TOPIC}", json=body, headers=headers
            ) as response:
                answer = await response.read()
                if response.status == 401:
                    self._token = await token(session, self.base)
                if response.status != 202:
                    return None
                return str(json.loads(answer)["event_id"])
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def _caller(self, session: aiohttp.ClientSession) -> None:
        headers = {"X-LGSP-Timeout-Ms": str(CALL_DEADLINE_MS)}
        while not self._stop:
            started = time.monotonic()
            outcome = await self._call(session, headers)
            elapsed = time.monotonic() - started
            self.calls[outcome] += 1
            if outcome.isdigit() and elapsed > CALL_DEADLINE_MS / 1000 + LATE_SLACK_S:
                self.late_calls += 1
            if outcome == "200":
                self.call_oks.append(time.monotonic())
                if self.since is not None and self.first_call_after is None:
                    self.first_call_after = time.monotonic()
                    self.progress.set()
            elif outcome in ("refused", "no answer", "503", "504"):
                await asyncio.sleep(0.05)  # a caller's back-off before its retry

    async def _call(self, session: aiohttp.ClientSession, headers: dict[str, str]) -> str:
        try:
            async with session.post(
                f"{self.base}/v1/services/land.parcel.lookup",
                json=PARCEL,
                headers={**headers, "Authorization": f"Bearer {self._token}"},
            ) as response:
                await response.read()
                return str(response.status)
        except aiohttp.ClientConnectorError:
            return "refused"
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError):
            return "no answer"
        except TimeoutError:
            return "hung"


async def token(session: aiohttp.ClientSession, base: str) -> str:
    """A bearer token of the demo client, retried until the gateway answers."""
    while True:
        try:
            async with session.post(
                f"{base}/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": CLIENT[0],
                    "client_secret": CLIENT[1],
                },
            ) as response:
                if response.status == 200:
                    return str((await response.json())["access_token"])
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)


# -- faults ------------------------------------------------------------------------


def restart_broker(bus: Bus) -> None:
    bus.node.restart()


def kill_gateway(bus: Bus) -> None:
    bus.kill("gateway")
    bus.spawn("gateway")


def kill_subscriber(bus: Bus) -> None:
    bus.kill("subscriber")
    bus.spawn("subscriber")


def kill_adapter(bus: Bus) -> None:
    bus.kill("land")
    bus.spawn("land")


def restart_postgres(bus: Bus) -> None:
    bus.postgres.restart()


def kill_cluster_node(bus: Bus) -> None:
    # Node 0 is the first the processes try: the one they are connected to.
    bus.cluster.kill(0)
    bus.cluster.start(0)


FAULTS: dict[str, Callable[[Bus], None]] = {
    "broker restarted": restart_broker,
    "gateway kill -9": kill_gateway,
    "subscriber kill -9": kill_subscriber,
    "adapter kill -9": kill_adapter,
    "postgres restarted": restart_postgres,
    "cluster node kill -9": kill_cluster_node,
}
ON_A_CLUSTER = frozenset({"cluster node kill -9"})
"""The faults made on the bus on a three-node cluster; the others are made
on the bus on one node, with its state on PostgreSQL."""


# -- one fault, then the suite -----------------------------------------------------


async def under_load(bus: Bus, fault: str, first_event: int, events: int) -> Figures:
    """Run ``events`` events of load with ``fault`` made a third of the way in."""
    load = Load(bus.base, first_event, events)
    timeout = aiohttp.ClientTimeout(total=CALL_DEADLINE_MS / 1000 + 10)
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout) as session:
        running = asyncio.create_task(load.run(session))
        await _until(lambda: len(load.accepted) >= events // 3, load, running)
        fault_started = time.monotonic()
        await asyncio.to_thread(FAULTS[fault], bus)
        load.fault_ended(time.monotonic())
        fault_ended = time.monotonic()
        try:
            async with asyncio.timeout(RECOVERY_BOUND_S):
                await _until(lambda: load.done and load.recovered_s is not None, load, running)
        except TimeoutError:
            raise BenchError(
                f"{fault}: not serving again {RECOVERY_BOUND_S:g} s after the fault\n"
                f"{bus.fleet.tails()}"
            ) from None
        load.stop()
        await running
    figures = Figures(fault, fault_s=round(fault_ended - fault_started, 2))
    figures.load_s = round(time.monotonic() - started, 2)
    figures.calls = dict(load.calls)
    figures.late_calls = load.late_calls
    recovered = load.recovered_s
    figures.recovered_s = None if recovered is None else round(recovered, 2)
    figures.longest_gap_s = round(
        max(
            _longest_gap(load.call_oks, fault_started), _longest_gap(load.event_oks, fault_started)
        ),
        2,
    )
    await _count(bus, load, figures)
    return figures


def _longest_gap(moments: list[float], since: float) -> float:
    """The longest interval between successes from ``since`` on (the first
    measured from ``since`` itself)."""
    later = [since, *(t for t in moments if t >= since)]
    return max((b - a for a, b in itertools.pairwise(later)), default=0.0)


async def _until(condition: Callable[[], bool], load: Load, running: asyncio.Task[None]) -> None:
    """Wait for the load to reach ``condition`` (woken by its progress)."""
    while not condition():
        if running.done():
            running.result()
            raise BenchError("the load stopped before it was done")
        load.progress.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.2):
                await load.progress.wait()


async def _count(bus: Bus, load: Load, figures: Figures) -> None:
    """Wait for the subscriber to catch up, then count by event id."""
    deadline = time.monotonic() + DRAIN_S
    while True:
        processed = _processed(bus.counted)
        missing = [e for e in load.accepted if e not in processed]
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    mine = set(range(load.first_event, load.first_event + PAST_PLAN * load.events))
    figures.accepted = len(load.accepted)
    figures.delivered = sum(1 for e in load.accepted if e in processed)
    figures.lost = len(missing)
    figures.processed_twice = sum(1 for e in load.accepted if processed.get(e, (0,))[0] > 1)
    known = set(load.accepted)
    figures.unacknowledged_delivered = sum(
        1 for e, (_, n) in processed.items() if e not in known and n in mine
    )


def _processed(path: Path) -> dict[str, tuple[int, int]]:
    """Event id → (times processed, the event's number), from the counter's file."""
    out: dict[str, tuple[int, int]] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        event_id, _, note = line.partition(" ")
        _, _, number = note.partition(" ")
        if not number.isdigit():
            continue  # a line cut short by a kill
        count, n = out.get(event_id, (0, int(number)))
        out[event_id] = (count + 1, n)
    return out


def _ready(bus: Bus) -> Awaitable[None]:
    async def ready() -> None:
        async with aiohttp.ClientSession() as session:
            bearer = await token(session, bus.base)
            headers = {"Authorization": f"Bearer {bearer}"}
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                bus.fleet.check()
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{bus.base}/v1/topics/{TOPIC}", headers=headers) as r:
                        topic = await r.json()
                    async with session.post(
                        f"{bus.base}/v1/services/land.parcel.lookup", json=PARCEL, headers=headers
                    ) as r:
                        land = r.status
                    if SUBSCRIBER in str(topic.get("subscribers")) and land == 200:
                        return
                await asyncio.sleep(0.2)
            raise BenchError(f"the bus did not come up\n{bus.fleet.tails()}")

    return ready()


@contextlib.contextmanager
def running_bus(work: Path, *, on_a_cluster: bool) -> Iterator[Bus]:
    """The bus on one RabbitMQ node with its state on PostgreSQL, or on a
    three-node cluster with quorum queues."""
    with contextlib.ExitStack() as stack:
        if on_a_cluster:
            bus = Bus(work, cluster=stack.enter_context(start_cluster(3)))
        else:
            bus = Bus(
                work,
                node=stack.enter_context(start_node()),
                postgres=stack.enter_context(start_postgres()),
            )
        stack.callback(bus.stop)
        bus.start()
        asyncio.run(_ready(bus))
        yield bus


def suite(events: int, faults: list[str] | None = None, work: Path | None = None) -> list[Figures]:
    """Every fault (or those named), one after the other: those of one node
    on one bus, those of the cluster on another."""
    chosen = faults or list(FAULTS)
    with contextlib.ExitStack() as stack:
        if work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lgsp-chaos-")))
        results = []
        for on_a_cluster in (False, True):
            mine = [f for f in chosen if (f in ON_A_CLUSTER) == on_a_cluster]
            if not mine:
                continue
            place = work / ("cluster" if on_a_cluster else "node")
            with running_bus(place, on_a_cluster=on_a_cluster) as bus:
                for fault in mine:
                    print(f"{fault}: {events:,} events under load", flush=True)
                    # Each fault's events are numbered apart (a load may run past its own).
                    first = list(FAULTS).index(fault) * PAST_PLAN * events
                    figures = asyncio.run(under_load(bus, fault, first, events))
                    print(figures.row(), flush=True)
                    results.append(figures)
        return results


def main() -> int:
    events = int(os.environ.get("CHAOS_EVENTS") or 100_000)
    results = suite(events, sys.argv[1:] or None)
    print(f"\n{HEADER}")
    for figures in results:
        print(figures.row())
    document: dict[str, Any] = {
        "host": host(),
        "events_per_fault": events,
        "call_deadline_ms": CALL_DEADLINE_MS,
        "faults": [asdict(f) for f in results],
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    bad = [f for f in results if f.lost or f.processed_twice]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
