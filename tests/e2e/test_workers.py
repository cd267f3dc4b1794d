"""End to end: `lgsp gateway --workers 2`, two gateway processes on one
port sharing one data folder, and two `lgsp adapters` processes sharing
the service queues, against the suite's RabbitMQ node.

Which worker answered a call is seen as an operator sees it: each worker's
own metrics port counts what it answered. Every call opens a connection of
its own, so the kernel spreads them over both workers."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lgsp.catalogue.registry import Registry
from lgsp.testing.servers import free_ports_in_a_row
from tests.support.processes import free_port, lgsp, token, wait_until

REGISTRY = Registry.from_entry_points()
PARCEL = REGISTRY.service("land.parcel.lookup").examples[0]
CITIZEN = REGISTRY.service("population.citizen.lookup").examples[0]
ADMIN = ("admin", "demo-admin-secret")
VIEWER = ("dongthap.viewer", "demo-viewer-secret")
ONESTOP = ("dongthap.onestop", "demo-onestop-secret")

pytestmark = pytest.mark.amqp


@dataclass
class Gateway:
    """A running `lgsp gateway --workers 2` and its land database."""

    base: str
    metrics_ports: tuple[int, int]
    log: Path
    process: subprocess.Popen[bytes]

    def parcel(self, bearer: str, **headers: str) -> httpx.Response:
        return self.call("land.parcel.lookup", bearer, **headers)

    def call(self, service: str, bearer: str, **headers: str) -> httpx.Response:
        # A client of its own per call: a new connection, to either worker.
        return httpx.post(
            f"{self.base}/v1/services/{service}",
            json=PARCEL.request,
            headers={"Authorization": f"Bearer {bearer}", **headers},
            timeout=15,
        )

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(method, f"{self.base}{path}", json=body, auth=ADMIN, timeout=15)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def counted(self, worker: int, status: int, client: str | None = None) -> float:
        """Service calls that ``worker`` (1 or 2) answered with ``status``."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_ports[worker - 1]}/metrics").text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "lgsp_requests_total"
            and s.labels["status"] == str(status)
            and (client is None or s.labels["client"] == client)
        )

    def until_both(self, call: Callable[[], object], status: int, client: str | None) -> None:
        """Call until each worker has answered ``status`` once more than before."""
        before = [self.counted(w, status, client) for w in (1, 2)]

        def both() -> bool:
            call()
            return all(self.counted(w, status, client) > before[w - 1] for w in (1, 2))

        wait_until(both, f"both workers to answer {status}", timeout=30, process=self.process)

    def events(self, name: str) -> list[dict[str, Any]]:
        """The supervisor's structured lines called ``name``."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [e for e in map(_json, lines) if e is not None and e.get("event") == name]


def _token(base: str, client_id: str, secret: str) -> str | None:
    """A token, or None while the worker asked does not know the client yet."""
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    r = httpx.post(f"{base}/oauth2/token", data=form, timeout=15)
    if r.status_code == 401:
        return None
    r.raise_for_status()
    return str(r.json()["access_token"])


def _json(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        found: dict[str, Any] = json.loads(line)
    except ValueError:
        return None
    return found


@contextmanager
def workers_gateway(url: str, tmp_path: Path) -> Iterator[Gateway]:
    port, metrics = free_port(), free_ports_in_a_row(2)
    args = ["gateway", "--workers", "2", "--amqp-url", url, "--port", str(port)]
    log = tmp_path / "gw.log"
    with (
        lgsp(*args, "--metrics-port", str(metrics), log=log) as gw,
        lgsp("adapters", "--amqp-url", url, "land", log=tmp_path / "ad.log") as ad,
    ):
        gateway = Gateway(f"http://127.0.0.1:{port}", (metrics, metrics + 1), log, gw)
        wait_until(lambda: gateway.events("gateway.workers_ready"), "both workers", process=gw)
        bearer = token(gateway.base, *VIEWER)
        wait_until(lambda: gateway.parcel(bearer).status_code == 200, "land online", process=ad)
        yield gateway


def test_two_workers_on_one_port_are_one_gateway(lgsp_rabbitmq_url: str, tmp_path: Path) -> None:
    with workers_gateway(lgsp_rabbitmq_url, tmp_path) as gw:
        pids = [e["pid"] for e in gw.events("gateway.worker_started")]
        assert len(pids) == 2

        # A token one worker issued is honoured by both: one key, in the
        # client store they share.
        viewer = token(gw.base, *VIEWER)
        gw.until_both(lambda: gw.parcel(viewer), 200, VIEWER[0])

        # An operator's change through one worker reaches the other.
        gw.admin(
            "PATCH", "/v1/admin/clients/dongthap.viewer/grants", {"remove": ["land.parcel.lookup"]}
        )
        gw.until_both(lambda: gw.parcel(viewer), 403, VIEWER[0])
        assert {gw.parcel(viewer).status_code for _ in range(6)} == {403}

        # A client added through one worker, with a quota: over both
        # workers it gets about its quota (each counts half), not twice it.
        added = gw.admin(
            "POST",
            "/v1/admin/clients",
            {"id": "test.quota", "grants": ["land.parcel.lookup"], "rate": 0.001, "burst": 4},
        )
        quota = wait_until(lambda: _token(gw.base, "test.quota", added["client_secret"]), "token")
        # Known to both (a call of no service is 404 once its token is
        # accepted, before any quota is counted)...
        gw.until_both(lambda: gw.call("no.such.service", quota), 404, "test.quota")
        # ...it is refused once each worker has let its share through.
        answered: list[int] = []
        gw.until_both(lambda: answered.append(gw.parcel(quota).status_code), 429, "test.quota")
        assert answered.count(200) == 4  # 2 per worker: burst 4, rate nearly 0
        assert set(answered) == {200, 429}

        # A key rotated through one worker: tokens it signs are honoured by both.
        kid = gw.admin("POST", "/v1/admin/keys/rotate")["kid"]

        def new_token() -> str | None:
            bearer = token(gw.base, *ONESTOP)
            return bearer if jwt.get_unverified_header(bearer)["kid"] == kid else None

        onestop = wait_until(new_token, "a token signed with the new key")
        gw.until_both(lambda: gw.parcel(onestop), 200, ONESTOP[0])

        # A revocation through one worker: refused by both.
        gw.admin("PATCH", "/v1/admin/clients/dongthap.onestop", {"enabled": False})
        gw.until_both(lambda: gw.parcel(onestop), 401, None)
        assert {gw.parcel(onestop).status_code for _ in range(6)} == {401}
    # SIGTERM to the supervisor (the block's end) stopped both workers, and
    # it exited 0 (checked by lgsp()).
    assert gw.events("gateway.workers_stopped")[-1]["exit_codes"] == [0, 0]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_that_dies_is_restarted(lgsp_rabbitmq_url: str, tmp_path: Path) -> None:
    with workers_gateway(lgsp_rabbitmq_url, tmp_path) as gw:
        (first, _) = gw.events("gateway.worker_started")
        os.kill(first["pid"], signal.SIGKILL)
        died = wait_until(lambda: gw.events("gateway.worker_died"), "the death noticed")
        assert died[0]["worker"] == first["worker"]
        assert died[0]["exit_code"] == -signal.SIGKILL
        assert died[0]["restart_in_s"] > 0

        def restarted() -> list[dict[str, Any]]:
            return [
                e
                for e in gw.events("gateway.worker_ready")
                if e["worker"] == first["worker"] and e["pid"] != first["pid"]
            ]

        (again,) = wait_until(restarted, "the worker restarted", timeout=30)
        # It serves again: the new process's counters start from nothing.
        bearer = token(gw.base, *VIEWER)
        gw.until_both(lambda: gw.parcel(bearer), 200, VIEWER[0])
    assert gw.events("gateway.workers_stopped")[-1]["exit_codes"] == [0, 0]
    with pytest.raises(ProcessLookupError):
        os.kill(again["pid"], 0)


def test_an_idempotency_key_is_replayed_by_either_worker(
    lgsp_rabbitmq_url: str, tmp_path: Path
) -> None:
    with workers_gateway(lgsp_rabbitmq_url, tmp_path) as gw:
        bearer = token(gw.base, *ONESTOP)
        # Calls with one key at once on eight connections, then more, until
        # both workers have answered some.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda _: gw.parcel(bearer, **{"Idempotency-Key": "k1"}), range(16))
            )
        while not all(gw.counted(w, 200, ONESTOP[0]) > 0 for w in (1, 2)):
            answers.append(gw.parcel(bearer, **{"Idempotency-Key": "k1"}))
            assert len(answers) < 200
        assert {r.status_code for r in answers} == {200}
        replayed = [r.headers.get("Idempotent-Replayed") for r in answers]
        # The provider was called once; every other answer, on either
        # worker, is that first one replayed.
        assert replayed.count(None) == 1
        assert {r.content for r in answers} == {answers[0].content}


def test_workers_that_keep_dying_at_start_stop_the_gateway(
    lgsp_rabbitmq_url: str, tmp_path: Path
) -> None:
    metrics = free_ports_in_a_row(2)
    args = [sys.executable, "-m", "lgsp.cli", "--log-format", "json", "gateway", "--workers", "2"]
    args += ["--amqp-url", lgsp_rabbitmq_url, "--port", str(free_port())]
    args += ["--metrics-port", str(metrics), "--data-dir", str(tmp_path / "d")]
    with _listening(metrics + 1):  # worker 2's metrics port is taken
        started = time.monotonic()
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "exited 1 before it was ready, 3 times in a row" in done.stderr
    assert "address already in use" in done.stderr
    assert time.monotonic() - started < 60
    failing = [e for e in map(_json, done.stdout.splitlines()) if e and "event" in e]
    assert [e["worker"] for e in failing if e["event"] == "gateway.worker_died"] == [2, 2]


@contextmanager
def _listening(port: int) -> Iterator[None]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        yield


def test_two_adapter_processes_serve_one_service(lgsp_rabbitmq_url: str, tmp_path: Path) -> None:
    """Two `lgsp adapter run` of the NDXP connector, each with its own data
    folder, share the service's queue: both take calls."""
    url = lgsp_rabbitmq_url
    ndxp, port, metrics = free_port(), free_port(), (free_port(), free_port())
    base = f"http://127.0.0.1:{port}"
    connector = ("adapter", "run", "lgsp_adapters.ndxp.connector:adapter", "--amqp-url", url)
    env = {"LGSP_NDXP_PORT": str(ndxp)}

    def adapter(i: int) -> Any:
        folder = ("--data-dir", str(tmp_path / f"adapter{i}"))
        return lgsp(
            *connector,
            "--metrics-port",
            str(metrics[i]),
            *folder,
            log=tmp_path / f"a{i}.log",
            env=env,
        )

    def served(i: int) -> float:
        text = httpx.get(f"http://127.0.0.1:{metrics[i]}/metrics").text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "lgsp_ndxp_requests_total" and s.labels.get("outcome") == "ok"
        )

    with (
        lgsp("ndxp-sim", "--port", str(ndxp), log=tmp_path / "ndxp.log") as sim,
        lgsp("gateway", "--amqp-url", url, "--port", str(port), log=tmp_path / "gw.log") as gw,
        adapter(0),
        adapter(1),
    ):
        sim_up = f"http://127.0.0.1:{ndxp}/healthz"
        wait_until(lambda: httpx.get(sim_up).status_code == 200, "NDXP", process=sim)
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "gateway", process=gw)
        bearer = token(base, *ONESTOP)
        headers = {"Authorization": f"Bearer {bearer}"}

        def online() -> bool:
            r = httpx.get(f"{base}/v1/services/population.citizen.lookup", headers=headers)
            return bool(r.json()["versions"][0]["providers_online"] == 2)

        wait_until(online, "both providers online")

        def lookup() -> bool:
            r = httpx.post(
                f"{base}/v1/services/population.citizen.lookup",
                json=CITIZEN.request,
                headers=headers,
                timeout=15,
            )
            assert r.status_code == 200, r.text
            return served(0) > 0 and served(1) > 0

        wait_until(lookup, "both adapter processes to serve", timeout=60)
