"""docs/network.md runs: its shell blocks (the walk-through of a Gia Lai
citizen's dossier in Đồng Tháp, refusals, an outage, NDOP's traces, the
data tracker) work against `lgsp up --provinces dongthap,gialai`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx

from tests.support.processes import free_port, lgsp, wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "network.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _free_pair() -> int:
    """A free port whose next one is free too (two gateways, two portals)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two free ports in a row")


def test_every_shell_block_runs_against_a_network(tmp_path: Path) -> None:
    blocks = [(m[1], m[2]) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]
    script = "set -euo pipefail\n" + "\n".join(t for lang, t in blocks if lang == "sh")
    gateway, ndxp = _free_pair(), free_port()
    script = (
        script.replace("127.0.0.1:8080", f"127.0.0.1:{gateway}")
        .replace("127.0.0.1:8081", f"127.0.0.1:{gateway + 1}")
        .replace("127.0.0.1:8090", f"127.0.0.1:{ndxp}")
    )
    env = {
        "LGSP_NDXP_PORT": str(ndxp),
        "LGSP_OPENDATA_PORT": str(_free_pair()),
        "LGSP_URL": f"http://127.0.0.1:{gateway}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    args = ("up", "--provinces", "dongthap,gialai", "--port", str(gateway))
    args += ("--data-dir", str(tmp_path / "data"))
    with lgsp(*args, log=tmp_path / "up.log", env=env) as up:
        for port in (gateway, gateway + 1):
            wait_until(
                lambda port=port: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
                f"the gateway on {port} ready",
                process=up,
            )
        result = subprocess.run(
            ["bash", "-c", script.replace(".venv/bin/lgsp", "lgsp")],
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ | env,
            cwd=tmp_path,
        )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert '{"khop":true,"truongKhongKhop":[]}' in out
    assert out.count('"tongSoBanGhi":2') >= 2  # by curl, and by `lgsp call --province`
    assert "000.00.00.H20-" in out
    assert '"origin":"dongthap","origin_client":"dongthap.onestop","target":"gialai"' in out
    assert '{"client":"ndxp.national","status":200}' in out
    for refused in (
        '{"status":403,"code":"auth.forbidden","raised_by":"dongthap"}',
        '{"status":403,"code":"auth.forbidden","raised_by":"gialai"}',
        '{"status":404,"code":"service.unknown","raised_by":"ndxp"}',
        '{"status":400,"code":"network.loop","raised_by":"dongthap"}',
        '{"status":503,"code":"service.unavailable","raised_by":"ndxp"}',
    ):
        assert refused in out
    assert (
        '[{"reporter":"dongthap","role":"requester"},{"reporter":"gialai","role":"provider"}]'
        in out
    )
    assert '"dichVu":"land.parcel.search"' in out
    assert '{"status":404,"code":"ndop.access.not_found"}' in out


def test_the_configuration_shown_is_one_a_gateway_takes() -> None:
    from lgsp.config import Settings

    blocks = [m[2] for m in BLOCK.finditer(DOC.read_text(encoding="utf-8")) if m[1] == "toml"]
    assert blocks
    for text in blocks:
        settings = Settings.model_validate(tomllib.loads(text))
        assert settings.province == "gialai"
        assert settings.network is not None
        assert [p.province for p in settings.partners] == ["dongthap"]
