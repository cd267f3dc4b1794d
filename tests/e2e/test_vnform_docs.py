"""docs/vnform.md runs: its shell blocks (the forms and the key, dossiers
returned, invitations, a citizen's answer and the simulated ones, the
deliveries, the warehouse's rows and satisfaction, a forged webhook
refused) work against `lgsp up`, whose banner names the simulated VNForm."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.processes import free_port, lgsp, wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "vnform.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def test_every_shell_block_runs_against_lgsp_up(tmp_path: Path) -> None:
    blocks = [(m[1], m[2]) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]
    script = "set -euo pipefail\n" + "\n".join(t for lang, t in blocks if lang == "sh")
    gateway, vnform = free_port(), free_port()
    script = script.replace("127.0.0.1:8080", f"127.0.0.1:{gateway}").replace(
        "127.0.0.1:8091", f"127.0.0.1:{vnform}"
    )
    env = {
        "LGSP_VNFORM_PORT": str(vnform),
        "LGSP_VNFORM_RECEIVER_PORT": str(free_port()),
        "LGSP_NDXP_PORT": str(free_port()),
        "LGSP_OPENDATA_PORT": str(free_port()),
        "LGSP_URL": f"http://127.0.0.1:{gateway}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log = tmp_path / "up.log"
    args = ("up", "--port", str(gateway), "--data-dir", str(tmp_path / "data"))
    with lgsp(*args, log=log, env=env) as up:
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{gateway}/readyz").status_code == 200,
            "the bus ready",
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
        banner = log.read_text(errors="replace")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert f"VNForm (sim) http://127.0.0.1:{vnform}/forms" in banner
    assert '{"_id":"khao-sat-1.004873","maTTHC":"1.004873"}' in out
    assert '{"_id":"thaiDo","fieldType":"rating"' in out
    assert '{"algorithm":"Ed25519","header":"X-FormSG-Signature"}' in out
    assert '{"maHoSo":"000.00.00.H20-250603-0001","trangThai":"10"}' in out
    assert out.count('"maBieuMau":"khao-sat-') == 2 + 1  # two invitations, one answer
    assert '{"trangThai":"delivered","soLanGui":1,"maTraLoi":200}' in out
    # The citizen's phone number never left the province's receiver whole.
    assert "0912345678" not in out
    assert "Cần gì gọi tôi: ********78" in out
    assert '"maDonVi":"000.00.00.H20","soPhanHoi":1' in out
    assert '{"status":401,"code":"vnform.webhook.forged"}' in out
    # The pseudonyms are not the applicants' ids (087090001234, Nguyễn Văn Hùng's).
    assert "087090001234" not in out
