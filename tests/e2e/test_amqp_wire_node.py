"""A provider and a subscriber written in another language, from
docs/amqp-wire.md and the served /asyncapi.json alone (Node with amqplib,
tests/interop/node/), against a real `lgsp gateway` on a private RabbitMQ:
the provider is discovered online, answers calls through the gateway, its
answers outside the contract are refused with 502, and losing its heartbeats
takes it offline (providers_online 0, then 503) within the documented time;
the subscriber gets every event published through the gateway at least once,
those published while it was stopped included, and acknowledges them."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lgsp.catalogue.registry import Registry
from lgsp.testing.fixtures import unavailable
from lgsp.testing.rabbitmq import RabbitNode
from tests.support.processes import free_port, lgsp, token, wait_until

NODE_DIR = Path(__file__).resolve().parents[1] / "interop" / "node"
REGISTRY = Registry.from_entry_points()
PARCEL = REGISTRY.service("land.parcel.lookup", 1).examples[0]
OUTSIDE = {**PARCEL.request, "soThuTuThua": 998}
"""Answered 200 with a body outside the contract (a missing field)."""
FAILING = {**PARCEL.request, "soThuTuThua": 997}
"""Answered with an error the contract does not declare."""
TOPIC = "onestop.dossier.status-changed"
EVENT = REGISTRY.topic(TOPIC).examples[0]
ONESTOP = ("dongthap.onestop", "demo-onestop-secret")
PROVIDER_TTL_S = 3.5
"""docs/amqp-wire.md: offline 3.5 s after the last heartbeat."""
AMQP_HEARTBEAT_S = 1
"""What the Node programs ask of the broker: it drops a hung one's
connection, and its consumer, after about two of them."""

pytestmark = pytest.mark.amqp


def _node() -> str:
    node = shutil.which("node")
    installed = (NODE_DIR / "node_modules" / "amqplib").is_dir()
    if node is None or not installed:
        why = f"node {'missing' if node is None else 'found'}; amqplib in {NODE_DIR}: " + (
            "installed" if installed else "missing (npm ci there)"
        )
        unavailable(f"the AMQP wire's Node clients cannot run: {why}")
    return node


@dataclass
class Bus:
    base: str
    amqp: str
    vhost: str
    node: str
    rabbit: RabbitNode
    tmp: Path

    def bearer(self) -> str:
        return token(self.base, *ONESTOP)

    def call(self, body: dict[str, Any], timeout_ms: int = 5000) -> httpx.Response:
        return httpx.post(
            f"{self.base}/v1/services/land.parcel.lookup",
            json=body,
            headers={
                "Authorization": f"Bearer {self.bearer()}",
                "X-LGSP-Timeout-Ms": str(timeout_ms),
            },
            timeout=timeout_ms / 1000 + 5,
        )

    def online(self) -> int:
        r = httpx.get(
            f"{self.base}/v1/services/land.parcel.lookup",
            headers={"Authorization": f"Bearer {self.bearer()}"},
        )
        r.raise_for_status()
        (v1,) = [v for v in r.json()["versions"] if v["version"] == 1]
        return int(v1["providers_online"])

    def publish(self, note: str) -> str:
        r = httpx.post(
            f"{self.base}/v1/events/{TOPIC}",
            json={**EVENT, "ghiChu": note},
            headers={"Authorization": f"Bearer {self.bearer()}"},
        )
        assert r.status_code == 202, r.text
        return str(r.json()["event_id"])

    def depth(self, queue: str) -> int:
        listed = self.rabbit.ctl("list_queues", "-p", self.vhost, "name", "messages", "--quiet")
        for line in listed.splitlines():
            name, _, count = line.rpartition("\t")
            if name == queue:
                return int(count)
        raise AssertionError(f"no queue {queue} in {listed!r}")


class NodeProgram:
    """One of the Node programs, running; its JSON lines as they come."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def lines(self, event: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if event is None or entry["event"] == event:
                    found.append(entry)
        return found

    def wait_for(self, event: str, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            lines = self.lines(event)
            return lines if len(lines) >= count else None

        try:
            found: list[dict[str, Any]] = wait_until(
                enough, f"{count} {event!r}", timeout=timeout, process=self.process
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {self.log.name}: {self.log.read_text()}") from None
        return found


@contextmanager
def node_program(bus: Bus, script: str, name: str, **env: str) -> Iterator[NodeProgram]:
    log = bus.tmp / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [bus.node, script],
            cwd=NODE_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ
            | {"LGSP_AMQP_URL": bus.amqp, "LGSP_GATEWAY": bus.base}
            | {"LGSP_AMQP_HEARTBEAT": str(AMQP_HEARTBEAT_S)}
            | env,
        )
    try:
        yield NodeProgram(process, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def bus(lgsp_rabbitmq_node: RabbitNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    node = _node()
    tmp = tmp_path_factory.mktemp("wire")
    vhost = f"wire-{secrets.token_hex(3)}"
    amqp = lgsp_rabbitmq_node.add_vhost(vhost)
    port = free_port()
    args = ["gateway", "--amqp-url", amqp, "--port", str(port), "--data-dir", str(tmp / "gw")]
    with lgsp(*args, log=tmp / "gateway.log") as gateway:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "ready", process=gateway)
        yield Bus(base, amqp, vhost, node, lgsp_rabbitmq_node, tmp)


def provider(bus: Bus, name: str) -> Any:
    answers = bus.tmp / f"{name}.json"
    answers.write_text(
        json.dumps(
            {
                "answers": [
                    {"request": PARCEL.request, "status": 200, "body": PARCEL.response},
                    {"request": OUTSIDE, "status": 200, "body": {"maXa": "29869"}},
                    {"request": FAILING, "status": 500, "body": {"code": "provider.failed",
                                                                  "detail": "database down"}},
                ],
                "otherwise": {
                    "status": 404,
                    "body": {"code": "land.parcel.not_found", "detail": "no such parcel"},
                },
            }
        )
    )  # fmt: skip
    return node_program(
        bus,
        "provider.js",
        name,
        LGSP_SERVICE="land.parcel.lookup",
        LGSP_VERSION="1",
        LGSP_ANSWERS=str(answers),
    )


def test_a_node_provider_is_discovered_and_served(bus: Bus) -> None:
    assert bus.online() == 0
    assert bus.call(PARCEL.request).status_code == 503
    with provider(bus, "provider-served") as program:
        (serving,) = program.wait_for("serving")
        # What it read from /asyncapi.json is the bus's own.
        assert serving["queue"] == "lgsp.svc.land.parcel.lookup.v1"
        assert serving["fingerprint"] == REGISTRY.fingerprint("land.parcel.lookup", 1)
        wait_until(lambda: bus.online() == 1, "the Node provider online", process=program.process)

        answered = bus.call(PARCEL.request)
        assert answered.status_code == 200, answered.text
        assert answered.json() == PARCEL.response
        # A declared error passes as its problem.
        missing = bus.call({**PARCEL.request, "soThuTuThua": 1})
        assert (missing.status_code, missing.json()["code"]) == (404, "land.parcel.not_found")
        # Answers outside the contract never reach the caller.
        for body in (OUTSIDE, FAILING):
            refused = bus.call(body)
            assert refused.status_code == 502, refused.text
            assert refused.json()["code"] == "contract.response_invalid"
        requests = program.lines("request")
        assert [r["status"] for r in requests] == [200, 404, 200, 500]
        assert {r["client"] for r in requests} == {ONESTOP[0]}
        assert answered.headers["X-Request-Id"] == requests[0]["request_id"]
    # SIGTERM: it said provider.gone, so it is offline at once (well before
    # its last heartbeat is 3.5 s old).
    assert program.lines("gone")
    wait_until(lambda: bus.online() == 0, "offline on provider.gone", timeout=1.0)
    assert bus.call(PARCEL.request).status_code == 503


def test_a_node_provider_that_stops_its_heartbeats_goes_offline(bus: Bus) -> None:
    with provider(bus, "provider-frozen") as program:
        program.wait_for("serving")
        wait_until(lambda: bus.online() == 1, "the Node provider online", process=program.process)
        assert bus.call(PARCEL.request).status_code == 200
        program.process.send_signal(signal.SIGSTOP)  # hung: no heartbeat, no answer
        stopped = time.monotonic()
        wait_until(lambda: bus.online() == 0, "providers_online 0", timeout=PROVIDER_TTL_S + 3)
        offline = time.monotonic() - stopped
        answers: list[int] = []

        def refused() -> bool:
            answers.append(bus.call(PARCEL.request, timeout_ms=500).status_code)
            return answers[-1] == 503

        # Until the broker drops its connection, its consumer takes calls
        # that time out (504); then no provider: 503 at once.
        wait_until(refused, "503", timeout=PROVIDER_TTL_S + 4 * AMQP_HEARTBEAT_S + 5)
        unavailable = time.monotonic() - stopped
        assert set(answers) <= {503, 504}
        print(f"offline after {offline:.1f} s, 503 after {unavailable:.1f} s, answers {answers}")
        assert offline <= PROVIDER_TTL_S + 2
        # Woken, it finds its connection closed by the broker and exits.
        program.process.send_signal(signal.SIGCONT)
        assert program.process.wait(timeout=10) != 0


def test_a_node_subscriber_gets_every_event_at_least_once(bus: Bus) -> None:
    name = "interop.node"
    queue = f"lgsp.sub.{name}.{TOPIC}"
    env = {
        "LGSP_TOPIC": TOPIC,
        "LGSP_SUBSCRIBER": name,
        "LGSP_PROCESSED": str(bus.tmp / "processed.txt"),
        "LGSP_NACK_FIRST": "nack me once",
    }
    with node_program(bus, "subscriber.js", "subscriber", **env) as program:
        program.wait_for("subscribed")

        def listed() -> bool:
            r = httpx.get(
                f"{bus.base}/v1/topics/{TOPIC}",
                headers={"Authorization": f"Bearer {bus.bearer()}"},
            )
            return name in r.json()["subscribers"]

        wait_until(listed, "the subscriber in GET /v1/topics/{topic}", process=program.process)
        first = [bus.publish("first"), bus.publish("nack me once")]
        received = program.wait_for("received", 2)
        nacked = program.lines("nacked")
    assert {r["event_id"] for r in received} == set(first)
    # The nacked event came again, counted by the broker.
    assert [n["event_id"] for n in nacked] == [first[1]]
    (again,) = [r for r in received if r["event_id"] == first[1]]
    assert (again["delivery_count"], again["redelivered"]) == (1, True)
    assert {r["client"] for r in received} == {ONESTOP[0]}

    # Stopped: its durable queue keeps what is published meanwhile.
    while_away = [bus.publish("while away 1"), bus.publish("while away 2")]
    wait_until(lambda: bus.depth(queue) == 2, "two events kept in its queue")
    with node_program(bus, "subscriber.js", "subscriber-again", **env) as program:
        back = program.wait_for("received", 2)
        assert [r["event_id"] for r in back] == while_away
        assert [r["payload"]["ghiChu"] for r in back] == ["while away 1", "while away 2"]
        # Everything it processed is acknowledged: nothing left for it.
        wait_until(lambda: bus.depth(queue) == 0, "its queue empty")
