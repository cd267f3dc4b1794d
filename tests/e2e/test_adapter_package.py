"""An integrator's adapter package, written from docs/integrators.md alone,
over RabbitMQ as separate processes: discovered through its entry points,
registers and serves, is refused when it changes a published schema, and
leaves the catalogue when its process is killed.

The package is put on the processes' PYTHONPATH with a ``.dist-info`` of its
own (that is all entry-point discovery needs), so nothing is installed into
the environment the rest of the suite runs in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.support.docs import blocks, named
from tests.support.processes import free_port, lgsp, token, wait_until

SERVICE = "civil.birth.lookup"
LGSP = (sys.executable, "-m", "lgsp.cli", "--log-format", "json")
NEW_FIELD = "    ghiChu: str | None = None\n"


def package(root: Path, *, changed: bool = False) -> Path:
    """The doc's module and entry points as an importable distribution."""
    site = root / ("changed" if changed else "published")
    site.mkdir()
    module = next(b for b in blocks("python") if named(b).endswith(".py") and "Adapter(" in b)
    code = module
    if changed:
        # One more response field: a different schema for the published v1.
        anchor = (
            '    noiDangKy: str = Field(description="the authority that registered the birth")\n'
        )
        assert anchor in code
        code = code.replace(anchor, anchor + NEW_FIELD)
    (site / named(module)).write_text(code, encoding="utf-8")
    pyproject = next(b for b in blocks("toml") if named(b) == "pyproject.toml")
    groups = tomllib.loads(pyproject)["project"]["entry-points"]
    dist = site / "my_agency-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-agency\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n"
            for group, points in groups.items()
        )
    )
    return site


def online(base: str, bearer: str) -> int:
    r = httpx.get(f"{base}/v1/services/{SERVICE}", headers={"Authorization": f"Bearer {bearer}"})
    r.raise_for_status()
    return int(r.json()["versions"][0]["providers_online"])


def lookup(base: str, bearer: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/services/{SERVICE}",
        json={"soDinhDanh": "087090001234"},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )


@pytest.mark.amqp
def test_a_new_adapter_package_lives_and_dies_on_the_bus(
    lgsp_rabbitmq_url: str, tmp_path: Path
) -> None:
    published = {"PYTHONPATH": str(package(tmp_path))}
    changed = {"PYTHONPATH": str(package(tmp_path, changed=True))}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp_path / "bus.toml"
    config.write_text(
        '[[clients]]\nid = "dongthap.civil"\nsecret = "civil-test-secret"\ngrants = ["civil.*"]\n',
        encoding="utf-8",
    )
    gateway_args = (
        "gateway",
        "--amqp-url",
        lgsp_rabbitmq_url,
        "--port",
        str(port),
        "--config",
        str(config),
    )
    with lgsp(*gateway_args, log=tmp_path / "gw.log", env=published) as gw:
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "gateway", process=gw)
        bearer = token(base, "dongthap.civil", "civil-test-secret")
        assert online(base, bearer) == 0
        assert lookup(base, bearer).status_code == 503

        # Discovered by name, it registers and serves.
        with (tmp_path / "civil.log").open("wb") as out:
            ad = subprocess.Popen(
                [*LGSP, "adapters", "--amqp-url", lgsp_rabbitmq_url, "civil"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=os.environ | published,
            )
        try:
            # Online in the catalogue within a second of serving.
            log_file = tmp_path / "civil.log"
            wait_until(lambda: "adapter.started" in log_file.read_text(), "serving", process=ad)
            wait_until(lambda: online(base, bearer) == 1, "the adapter online", timeout=1.0)
            r = lookup(base, bearer)
            assert r.status_code == 200
            assert r.json()["hoVaTen"] == "Nguyễn Văn Hùng"
        finally:
            # Killed without a word: its heartbeats stop.
            ad.send_signal(signal.SIGKILL)
            ad.wait(timeout=10)
        killed = time.monotonic()
        wait_until(lambda: online(base, bearer) == 0, "the dead adapter gone", timeout=10)
        assert time.monotonic() - killed < 6
        assert lookup(base, bearer).status_code == 503

        # The same package with a changed v1 schema is refused and never served.
        refused_log = tmp_path / "changed.log"
        with refused_log.open("wb") as out:
            changed_ad = subprocess.Popen(
                [*LGSP, "adapters", "--amqp-url", lgsp_rabbitmq_url, "civil"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=os.environ | changed,
            )
        try:
            wait_until(
                lambda: (
                    changed_ad.poll() is not None or "provider.refused" in refused_log.read_text()
                ),
                "the changed adapter refused",
            )
            assert "provider.refused" in refused_log.read_text()
            assert online(base, bearer) == 0
            assert lookup(base, bearer).status_code == 503
        finally:
            changed_ad.kill()
            changed_ad.wait(timeout=10)


def test_the_package_on_the_embedded_bus(tmp_path: Path) -> None:
    """In one process (`lgsp up`), the installed package is discovered and
    served beside the mock systems; a changed schema cannot arise there, as
    the bus and the adapter share one set of contracts (the refusal across
    processes is above, and in-process in tests/behaviour/test_fingerprints.py)."""
    published = {"PYTHONPATH": str(package(tmp_path)), "LGSP_NDXP_PORT": str(free_port())}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp_path / "bus.toml"
    config.write_text(
        '[[clients]]\nid = "dongthap.civil"\nsecret = "civil-test-secret"\ngrants = ["civil.*"]\n',
        encoding="utf-8",
    )
    args = ("up", "--port", str(port), "--config", str(config))
    with lgsp(*args, log=tmp_path / "up.log", env=published) as up:
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "bus", process=up)
        bearer = token(base, "dongthap.civil", "civil-test-secret")
        wait_until(lambda: online(base, bearer) == 1, "the adapter online")
        r = lookup(base, bearer)
        assert r.status_code == 200
        assert r.json()["noiDangKy"] == "UBND Phường Cao Lãnh"
