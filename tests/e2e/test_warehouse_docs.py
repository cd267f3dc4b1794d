"""docs/warehouse.md runs: its shell blocks (curl calls, `lgsp warehouse`)
work against `lgsp up` once the warehouse has loaded."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.processes import free_port, lgsp, token, wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "warehouse.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def test_every_shell_block_runs_against_lgsp_up(tmp_path: Path) -> None:
    blocks = [(m[1], m[2]) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]
    assert {lang for lang, _ in blocks} == {"sh"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = "set -euo pipefail\n" + "\n".join(t for _, t in blocks)
    script = script.replace("127.0.0.1:8080", base[7:])
    env = {
        "LGSP_NDXP_PORT": str(free_port()),
        "LGSP_URL": base,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    args = ("up", "--port", str(port), "--data-dir", str(tmp_path / "data"))
    with lgsp(*args, log=tmp_path / "up.log", env=env) as up:
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "bus ready", process=up)
        bearer = token(base, "dongthap.analyst", "demo-analyst-secret")

        def loaded() -> bool:
            r = httpx.post(
                f"{base}/v1/services/warehouse.sql.query",
                json={"sql": "SELECT count(*) FROM loads WHERE loaded_at IS NOT NULL"},
                headers={"Authorization": f"Bearer {bearer}"},
            )
            return r.status_code == 200 and r.json()["dong"] == [[5]]

        wait_until(loaded, "the warehouse loaded every source", timeout=60, process=up)
        result = subprocess.run(
            ["bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ | env,
        )
        parquet = tmp_path / "data" / "warehouse" / "parquet"
        wait_until(lambda: (parquet / "dossiers").exists(), "the Parquet copy", process=up)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"soHoSo":1' in result.stdout.replace(" ", "")
    assert "1.004873" in result.stdout
    assert "warehouse.sql.forbidden" in result.stderr
