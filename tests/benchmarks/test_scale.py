"""The scale benchmark's own parts, without load: the synthetic services are
N distinct, valid services that a bus serves as their examples say and that
a process finds through entry points; the ratios, table and results
document say what was measured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from benchmarks import scale, scale_services
from benchmarks.fleet import ROOT
from benchmarks.wrk import Load, Measurement
from lgsp import Registry
from lgsp.testing import running_bus
from lgsp_contracts import CATALOGUE


def test_the_generator_makes_n_distinct_valid_services_beside_the_installed_ones() -> None:
    made = scale_services.build(25)
    names = [c.service for c in made.catalogue.services]
    assert len(names) == len(set(names)) == 25
    registry = Registry([CATALOGUE, made.catalogue])
    assert len(registry.services) == len(CATALOGUE.services) + 25
    fingerprints = [registry.fingerprint(name, 1) for name in names]
    assert len(set(fingerprints)) == 25, "each service has its own schemas"
    assert sorted(made.adapter.services) == sorted((name, 1) for name in names)
    assert scale_services.build(0).catalogue.services == ()


async def test_a_bus_serves_every_synthetic_service_as_its_example_says() -> None:
    made = scale_services.build(3)
    async with running_bus(
        "memory",
        installed=False,
        sidecars=False,
        adapters=[made.adapter],
        catalogues=[made.catalogue],
    ) as bus:
        for contract in made.catalogue.services:
            example = contract.examples[0]
            answer = await bus.call(contract.service, example.request)
            assert (answer.status, answer.json) == (200, example.response)
        missing = await bus.call(scale_services.service_name(2), {"maDoiTuong": "2"})
        assert missing.status == 404
        assert missing.json["code"] == "scale.item-0002.not_found"


def test_a_process_finds_the_services_through_entry_points(tmp_path: Path) -> None:
    scale_services.install(tmp_path)
    probe = (
        "from lgsp.catalogue.registry import Registry\n"
        "from lgsp.server import load_adapters\n"
        "registry = Registry.from_entry_points()\n"
        "print(sum(name.startswith('scale.') for name in registry.services))\n"
        "print(len(load_adapters(['scale'])[0].services))\n"
    )
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        scale_services.COUNT_ENV: "7",
    }
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["7", "7"]


def _measured(rps: float, p99_ms: float = 20.0) -> Measurement:
    seconds = 5.0
    return Measurement(
        requests=int(rps * seconds),
        duration_s=seconds,
        bytes=int(rps * seconds) * 400,
        errors={"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
        latency_us={"p50": 9_000.0, "p99": p99_ms * 1000, "max": 2 * p99_ms * 1000},
    )


def _point(axis: str, size: int, rps: dict[str, float], loaded_mib: float) -> scale.Point:
    return scale.Point(
        axis=axis,
        size=size,
        citizens=size if axis == "citizens" else scale.BASE_CITIZENS,
        services=20 + (size if axis == "services" else 0),
        ready_s=size / 100_000 + 1,
        settled_s=size / 10_000 + 1,
        idle_cpu=0.004,
        memory=scale.Memory(
            ready=loaded_mib / 2,
            settled=loaded_mib - 10,
            warm=loaded_mib - 5,
            loaded=loaded_mib,
            peak_ready=loaded_mib,
            peak=loaded_mib * 2,
            helpers=90,
        ),
        paths={path: _measured(r) for path, r in rps.items()},
        cpu_us={path: 1e6 / r for path, r in rps.items()},
    )


POINTS = [
    _point("citizens", 10_000, {scale.LAND: 6000, scale.CITIZEN: 1600}, 250),
    _point("citizens", 1_000_000, {scale.LAND: 5700, scale.CITIZEN: 1200}, 750),
    _point("services", 10, {scale.LAND: 6000}, 260),
    _point("services", 1_000, {scale.LAND: 6600}, 300),
]


def test_each_size_is_compared_with_the_smallest_of_its_axis_against_the_goal() -> None:
    found = {(r["axis"], r["path"], r["size"]): r for r in scale.ratios(list(reversed(POINTS)))}
    assert set(found) == {
        ("citizens", scale.LAND, 1_000_000),
        ("citizens", scale.CITIZEN, 1_000_000),
        ("services", scale.LAND, 1_000),
    }
    land = found[("citizens", scale.LAND, 1_000_000)]
    assert (land["against"], land["throughput_ratio"], land["met"]) == (10_000, 0.95, True)
    assert land["rss_ratio"] == 3.0
    assert land["cpu_per_request_ratio"] == round(6000 / 5700, 3)
    citizen = found[("citizens", scale.CITIZEN, 1_000_000)]
    assert (citizen["throughput_ratio"], citizen["met"]) == (0.75, False)
    assert found[("services", scale.LAND, 1_000)]["throughput_ratio"] == 1.1
    assert scale.ratios(POINTS[:1]) == [], "one size has nothing to be compared with"


def test_the_table_shows_every_size_and_path_and_each_verdict() -> None:
    settling = scale.Point(
        **(vars(POINTS[1]) | {"settling": {scale.LAND: _measured(200, p99_ms=550)}})
    )
    text = scale.table([POINTS[0], settling, *POINTS[2:]], Load(5, 1, 64, 1, 5, 90))
    assert "64 connections" in text
    for size in ("10,000", "1,000,000", "1,000"):
        assert size in text
    assert f"{scale.LAND} (settling)" in text
    assert "0.75x req/s (goal >= 0.9x: NOT MET)" in text
    assert "0.95x req/s (goal >= 0.9x: met)" in text
    assert "synthetic services" in text


def test_the_results_document_holds_the_machine_the_load_and_every_point() -> None:
    document = scale.document(POINTS, Load(5, 1, 64, 1, 5, 90), busy_before=0.02)
    again = orjson.loads(orjson.dumps(document))
    assert again["host"]["cpus"] == os.cpu_count()
    assert again["load"]["seconds"] == 5
    citizens = again["axes"]["citizens"]
    assert [p["size"] for p in citizens["points"]] == [10_000, 1_000_000]
    assert citizens["paths"] == [scale.LAND, scale.CITIZEN]
    first = citizens["points"][0]
    assert first["rss_mib"] == {
        "ready": 125.0,
        "settled": 240.0,
        "warm": 245.0,
        "loaded": 250.0,
        "peak_ready": 250.0,
        "peak": 500.0,
        "helpers": 90,
    }
    assert first["idle_cpu_percent"] == 0.4
    assert first["paths"][scale.LAND]["requests_per_second"] == 6000.0
    assert first["paths"][scale.LAND]["cpu_us_per_request"] == round(1e6 / 6000, 1)
    assert [p["services_registered"] for p in again["axes"]["services"]["points"]] == [30, 1020]
    assert len(again["ratios"]) == 3


def test_memory_and_cpu_are_read_from_proc_for_a_running_process() -> None:
    pid = os.getpid()
    rss = scale.rss_mib(pid)
    assert 1 < rss <= scale.rss_mib(pid, "VmHWM")
    before = scale.cpu_seconds(pid)
    sum(i * i for i in range(200_000))  # some work of this process's own
    assert scale.cpu_seconds(pid) > before


def test_the_processes_a_process_started_are_found_with_their_memory() -> None:
    script = "import subprocess; subprocess.run(['sleep', '30'])"
    with subprocess.Popen([sys.executable, "-c", script], start_new_session=True) as child:
        try:

            def grandchildren() -> list[int]:
                return [p for p in scale.descendants(os.getpid()) if p != child.pid]

            deadline = time.monotonic() + 10
            while not grandchildren():  # polled: the child starts its own
                assert time.monotonic() < deadline, "the grandchild never started"
                time.sleep(0.01)
            assert child.pid in scale.descendants(os.getpid())
            assert scale.pss_mib(child.pid) > 1
        finally:
            os.killpg(child.pid, signal.SIGKILL)
    assert scale.pss_mib(child.pid) == 0.0  # gone
