"""docs/integrators.md runs: its Python modules import, its test file passes
under the testing kit and its script runs the kit's bus, its TOML is a valid
configuration (or pyproject entry points that resolve), its shell calls work
against `lgsp up`."""

from __future__ import annotations

import importlib
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from lgsp import Adapter, Catalogue
from lgsp.catalogue.registry import Registry
from lgsp.config import Settings
from lgsp.http_provider import HttpProvider
from tests.support.docs import BLOCKS, blocks, named
from tests.support.processes import free_port, lgsp, token, wait_until


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The doc's Python files, written as a project folder."""
    for text in blocks("python"):
        (tmp_path / named(text)).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_every_block_is_checked() -> None:
    assert {lang for lang, _ in BLOCKS} == {"python", "toml", "sh"}


def test_python_modules_import(project: Path) -> None:
    adapters = 0
    for text in blocks("python"):
        name = named(text).removesuffix(".py")
        if not name.startswith("test_"):
            module = importlib.import_module(name)
            sys.modules.pop(name)
            adapters += isinstance(getattr(module, "adapter", None), Adapter)
    assert adapters == 1


def test_toml(project: Path) -> None:
    agency = importlib.import_module("my_agency")
    registry = Registry.from_entry_points(extra=[agency.CATALOGUE])
    sys.modules.pop("my_agency")
    for text in blocks("toml"):
        data = tomllib.loads(text)
        if text.startswith("# pyproject.toml"):
            kinds = {"lgsp.contracts": Catalogue, "lgsp.adapters": Adapter}
            for group, kind in kinds.items():
                for target in data["project"]["entry-points"][group].values():
                    module, _, name = target.partition(":")
                    assert isinstance(getattr(importlib.import_module(module), name), kind)
                    sys.modules.pop(module)
        else:
            HttpProvider(Settings.model_validate(data).http_providers).check(registry)


def test_the_test_file_passes(project: Path) -> None:
    # A subprocess: the NDXP connector reads its environment once per process.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\b2 passed", result.stdout), result.stdout


def test_the_script_runs_the_bus(project: Path) -> None:
    """The guide's script on the testing kit's running_bus, as a smoke test."""
    result = subprocess.run(
        [sys.executable, str(project / "smoke.py")],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "smoke test passed" in result.stdout


def test_shell_calls_work_against_lgsp_up(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = "set -euo pipefail\n" + "\n".join(blocks("sh")).replace("127.0.0.1:8080", base[7:])
    env = {"LGSP_NDXP_PORT": str(free_port())}
    with lgsp("up", "--port", str(port), log=tmp_path / "up.log", env=env) as up:
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "bus ready", process=up)
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"soThuTuThua":345' in result.stdout.replace(" ", "")


def test_the_http_endpoint_serves_through_the_bus(tmp_path: Path) -> None:
    """The guide's framework-free endpoint, configured as the guide says,
    answers calls made to the bus (its contract installed, no adapter)."""
    site = tmp_path / "site"
    site.mkdir()
    module = next(b for b in blocks("python") if named(b) == "my_agency.py")
    (site / "my_agency.py").write_text(module, encoding="utf-8")
    dist = site / "my_agency-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-agency\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[lgsp.contracts]\ncivil = my_agency:CATALOGUE\n")
    endpoint = next(b for b in blocks("python") if named(b) == "birth_endpoint.py")
    (tmp_path / "birth_endpoint.py").write_text(endpoint, encoding="utf-8")
    endpoint_port, port = free_port(), free_port()
    config = next(b for b in blocks("toml") if "[[http_providers]]" in b)
    config = config.replace("127.0.0.1:8081", f"127.0.0.1:{endpoint_port}")
    config += '\n[[clients]]\nid = "dongthap.civil"\nsecret = "civil-test-secret"\n'
    config += 'grants = ["civil.*"]\n'
    (tmp_path / "bus.toml").write_text(config, encoding="utf-8")
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, str(tmp_path / "birth_endpoint.py"), str(endpoint_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _listening(endpoint_port), "the endpoint", process=server)
        env = {"PYTHONPATH": str(site), "LGSP_NDXP_PORT": str(free_port())}
        args = ("up", "--port", str(port), "--config", str(tmp_path / "bus.toml"))
        with lgsp(*args, log=tmp_path / "up.log", env=env) as up:
            wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "bus", process=up)
            bearer = token(base, "dongthap.civil", "civil-test-secret")
            url = f"{base}/v1/services/civil.birth.lookup"
            auth = {"Authorization": f"Bearer {bearer}"}
            found = httpx.post(url, json={"soDinhDanh": "087090001234"}, headers=auth)
            assert found.status_code == 200, found.text
            assert found.json()["noiDangKy"] == "UBND Phường Cao Lãnh"
            missing = httpx.post(url, json={"soDinhDanh": "087000000000"}, headers=auth)
            assert missing.status_code == 404
            assert missing.json()["code"] == "civil.birth.not_found"
    finally:
        server.kill()
        server.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
