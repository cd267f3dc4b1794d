"""End to end: the real `lgsp` processes that lgsp/cli/serve.py starts,
called over HTTP.

`lgsp gateway` and `lgsp adapters` run as separate processes against the
real RabbitMQ node of the suite; `lgsp up` runs the embedded bus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lgsp.catalogue.registry import Registry
from tests.support.processes import free_port, lgsp, token, wait_until

LOOKUP = Registry.from_entry_points().service("population.citizen.lookup").examples[0]


def lookup(base: str, bearer: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/services/population.citizen.lookup",
        json=LOOKUP.request,
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )


@pytest.fixture
def ndxp_sim(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`lgsp ndxp-sim` on a free port; yields the environment that points
    the NDXP connector of an `lgsp adapters` process at it."""
    port = free_port()
    with lgsp("ndxp-sim", "--port", str(port), log=tmp_path / "ndxp.log") as sim:
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200,
            "the NDXP simulator",
            process=sim,
        )
        yield {"LGSP_NDXP_PORT": str(port)}


@pytest.mark.amqp
def test_gateway_and_adapters_as_separate_processes(
    lgsp_rabbitmq_url: str, ndxp_sim: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The gateway first: it answers 503 until a provider is online...
    with lgsp(
        "gateway", "--amqp-url", lgsp_rabbitmq_url, "--port", str(port), log=tmp_path / "gw.log"
    ) as gw:
        wait_until(
            lambda: httpx.get(f"{base}/readyz").status_code == 200, "gateway ready", process=gw
        )
        bearer = token(base)
        r = lookup(base, bearer)
        assert r.status_code == 503
        assert r.json()["code"] == "service.unavailable"
        # ...then serves without a restart once the adapters come up.
        metrics_port = free_port()
        with lgsp(
            "adapters",
            "--amqp-url",
            lgsp_rabbitmq_url,
            "--metrics-port",
            str(metrics_port),
            log=tmp_path / "ad.log",
            env=ndxp_sim,
        ) as ad:
            r = wait_until(
                lambda: (resp := lookup(base, bearer)).status_code == 200 and resp,
                "the provider to come online",
                process=ad,
            )
            assert r.json() == LOOKUP.response
            catalogue = httpx.get(
                f"{base}/v1/services/population.citizen.lookup",
                headers={"Authorization": f"Bearer {bearer}"},
            ).json()
            assert catalogue["versions"][0]["providers_online"] == 1
            # The adapters' own counters (here the NDXP connector's) are scrapable.
            exposition = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            assert 'lgsp_ndxp_requests_total{operation="citizen_lookup",outcome="ok"}' in exposition
        # The adapters stopped: the provider goes offline again.
        wait_until(lambda: lookup(base, bearer).status_code == 503, "the provider to go offline")


@pytest.mark.amqp
def test_adapters_started_before_the_gateway(
    lgsp_rabbitmq_url: str, ndxp_sim: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        # One adapter by its import path, as an integrator runs their own.
        lgsp(
            "adapter",
            "run",
            "lgsp_adapters.ndxp.connector:adapter",
            "--amqp-url",
            lgsp_rabbitmq_url,
            log=tmp_path / "ad.log",
            env=ndxp_sim,
        ),
        lgsp(
            "gateway", "--amqp-url", lgsp_rabbitmq_url, "--port", str(port), log=tmp_path / "gw.log"
        ) as gw,
    ):
        wait_until(
            lambda: httpx.get(f"{base}/readyz").status_code == 200, "gateway ready", process=gw
        )
        bearer = token(base)
        r = wait_until(lambda: (resp := lookup(base, bearer)).status_code == 200 and resp, "served")
        assert r.json() == LOOKUP.response


def test_up_runs_the_embedded_bus(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "up.log"
    # The embedded NDXP simulator listens on a free port too.
    with lgsp("up", "--port", str(port), log=log, env={"LGSP_NDXP_PORT": str(free_port())}) as up:
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "bus ready", process=up)
        bearer = wait_until(lambda: token(base), "token")
        r = wait_until(lambda: (resp := lookup(base, bearer)).status_code == 200 and resp, "served")
        assert r.json() == LOOKUP.response
        assert r.headers["X-LGSP-Service-Version"] == "1"
        # `lgsp call` does the token dance for a person at a terminal.
        called = subprocess.run(
            [sys.executable, "-m", "lgsp.cli", "call", "population.citizen.lookup", "--url", base],
            input=json.dumps(LOOKUP.request),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert called.returncode == 0, called.stderr
        assert json.loads(called.stdout) == LOOKUP.response
        refused = subprocess.run(
            [sys.executable, "-m", "lgsp.cli", "call", "land.parcel.lookup", "{}", "--url", base],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert refused.returncode == 1
        assert json.loads(refused.stdout)["code"] == "contract.request_invalid"
    output = log.read_text()
    # The banner tells a newcomer how to call the bus...
    assert "dongthap.onestop" in output
    assert "curl" in output
    # ...and no log line holds a full personal id (the banner's example may).
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert any('"exchange.completed"' in line for line in lines)
    assert not [line for line in lines if LOOKUP.request["soDinhDanh"] in line]


@pytest.mark.amqp
def test_grant_changes_and_revocation_reach_every_gateway_process(
    lgsp_rabbitmq_url: str, tmp_path: Path
) -> None:
    """Two `lgsp gateway` processes sharing a data dir, as behind one load
    balancer: an operator's change through one applies on the other without
    a restart, and both write one intact exchange log."""
    data_dir = tmp_path / "shared"
    ports = free_port(), free_port()
    a, b = (f"http://127.0.0.1:{p}" for p in ports)
    parcel_service = "land.parcel.lookup"
    parcel = Registry.from_entry_points().service(parcel_service).examples[0]

    def parcel_lookup(base: str, bearer: str) -> int:
        r = httpx.post(
            f"{base}/v1/services/land.parcel.lookup",
            json=parcel.request,
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=10,
        )
        return r.status_code

    def command(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "lgsp.cli", *args],
            env=os.environ | {"LGSP_URL": a},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def gateway(port: int, name: str) -> Any:
        args = ("gateway", "--amqp-url", lgsp_rabbitmq_url, "--port", str(port))
        return lgsp(*args, "--data-dir", str(data_dir), log=tmp_path / f"{name}.log")

    with gateway(ports[0], "a") as gw_a, gateway(ports[1], "b") as gw_b:
        for base, gw in ((a, gw_a), (b, gw_b)):
            ready = f"{base}/readyz"
            wait_until(lambda u=ready: httpx.get(u).status_code == 200, base, process=gw)
        with lgsp(
            "adapters", "--amqp-url", lgsp_rabbitmq_url, "land", log=tmp_path / "ad.log"
        ) as ad:
            # A token from one gateway is honoured by the other (one key store).
            bearer = token(a, "dongthap.viewer", "demo-viewer-secret")
            wait_until(lambda: parcel_lookup(b, bearer) == 200, "land online", process=ad)

            command("grants", "remove", "dongthap.viewer", "land.parcel.lookup")
            wait_until(lambda: parcel_lookup(b, bearer) == 403, "the grant removed on b", 5)
            command("grants", "add", "dongthap.viewer", "land.parcel.lookup")
            wait_until(lambda: parcel_lookup(b, bearer) == 200, "the grant back on b", 5)
            command("clients", "revoke", "dongthap.viewer")
            wait_until(lambda: parcel_lookup(b, bearer) == 401, "the revocation on b", 5)
            assert parcel_lookup(a, bearer) == 401
    log_dir = ("--data-dir", str(data_dir))
    assert "chain intact" in command("audit", "verify", *log_dir)
    records = json.loads(command("audit", "export", "--format", "json", *log_dir))
    # Both gateways' answers are in the one log: 403 and 401 came from b (a
    # refused token names no service: "unknown").
    assert {200, 403} <= {r["status"] for r in records if r["name"] == parcel_service}
    assert any(r["status"] == 401 and r["client"] == "-" for r in records)


def test_ready_means_able_to_answer_even_with_a_big_dataset(tmp_path: Path) -> None:
    """/readyz says 503 while the dataset is built, then 200; the calls
    after it find the data built (nothing is built on first use)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "LGSP_NDXP_PORT": str(free_port()),
        "LGSP_OPENDATA_PORT": str(free_port()),
        "LGSP_DATASET_CITIZENS": "200000",
    }
    log = tmp_path / "up.log"
    args = ("up", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    statuses: list[int] = []
    with lgsp(*args, log=log, env=env) as up:

        def ready() -> bool:
            try:
                statuses.append(httpx.get(f"{base}/readyz", timeout=5).status_code)
            except httpx.HTTPError:
                return False
            return statuses[-1] == 200

        wait_until(ready, "the bus ready", timeout=90, process=up)
        bearer = token(base, "dongthap.onestop", "demo-onestop-secret")
        for service, body in (
            (
                "population.citizen.lookup",
                {
                    "maYeuCau": "r1",
                    "maDVC": "1.004873",
                    "maCanBo": "cb",
                    "soDinhDanh": "087090001234",
                },
            ),
            ("land.parcel.lookup", {"maXa": "29869", "soHieuToBanDo": 12, "soThuTuThua": 345}),
        ):
            r = httpx.post(
                f"{base}/v1/services/{service}",
                json=body,
                headers={"Authorization": f"Bearer {bearer}"},
                timeout=10,
            )
            assert r.status_code == 200, r.text
    assert 503 in statuses  # said while it was building
    built = [json.loads(line) for line in log.read_text().splitlines() if '"dataset.built"' in line]
    # One dataset (Đồng Tháp's, shared by the land database and NDXP), built
    # before ready: none after, for a call.
    assert [(b["province"], b["citizens"]) for b in built] == [("dongthap", 200000)]
    assert all("request_id" not in b for b in built)


def test_one_province_other_than_the_default(tmp_path: Path) -> None:
    """`lgsp up --provinces gialai`: Gia Lai's clients, land and dossier
    numbers, not Đồng Tháp's under another name."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"LGSP_NDXP_PORT": str(free_port()), "LGSP_OPENDATA_PORT": str(free_port())}
    args = ("up", "--provinces", "gialai", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    with lgsp(*args, log=tmp_path / "up.log", env=env) as up:
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "ready", process=up)
        bearer = token(base, "gialai.onestop", "demo-onestop-secret")
        headers = {"Authorization": f"Bearer {bearer}"}
        parcels = httpx.post(
            f"{base}/v1/services/land.parcel.search",
            json={"soDinhDanh": "064035250056"},
            headers=headers,
        )
        receipt = httpx.post(
            f"{base}/v1/services/onestop.dossier.submit",
            json={
                "maTTHC": "1.004873",
                "chuHoSo": {"soDinhDanh": "064035250056", "hoVaTen": "Nguyễn Văn Hậu"},
            },
            headers=headers,
        )
    assert parcels.status_code == 200
    assert parcels.json()["tongSoBanGhi"] == 2
    assert receipt.json()["maHoSo"].startswith("000.00.00.H21-")
