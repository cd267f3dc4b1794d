"""docs/soc.md runs: its "Trying it on one machine" shell starts rsyslogd
with the doc's own configuration (certificates made by the kit), `lgsp up`
sending to it with a blocklist in a file, and blocks a client; what the doc
says it prints, it prints, and the collector received those events."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from lgsp.testing.fixtures import unavailable
from lgsp.testing.rsyslog import write_certificates
from lgsp.testing.servers import free_ports

DOC = Path(__file__).resolve().parents[2] / "docs" / "soc.md"
COMPANION_PORTS = (
    "LGSP_NDXP_PORT",
    "LGSP_OPENDATA_PORT",
    "LGSP_VNFORM_PORT",
    "LGSP_VNFORM_RECEIVER_PORT",
)
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_trying_it_on_one_machine_runs(tmp_path: Path) -> None:
    if shutil.which("rsyslogd") is None and not os.access("/usr/sbin/rsyslogd", os.X_OK):
        unavailable("rsyslogd is not installed")
    blocks = [m[2] for m in BLOCK.finditer(_section("Trying it on one machine")) if m[1] == "sh"]
    assert len(blocks) == 3
    soc, gateway, *companions = free_ports(6)
    script = (
        "\n".join(blocks)
        .replace("/srv/soc", str(tmp_path / "soc"))
        .replace("/srv/lgsp", str(tmp_path / "lgsp"))
        .replace("127.0.0.1:6514", f"127.0.0.1:{soc}")
        .replace('port="6514"', f'port="{soc}"')
        .replace("127.0.0.1:8080", f"127.0.0.1:{gateway}")
        .replace("lgsp up ", f"lgsp up --port {gateway} ")
    )
    (tmp_path / "soc").mkdir()
    write_certificates(tmp_path / "soc")
    # What the blocks start in the background (rsyslogd, the bus) is
    # stopped (SIGTERM, by their job's pid) at the end.
    stop = "trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n"
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + stop + script],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ
        # The companion servers of `lgsp up` on free ports too.
        | dict(zip(COMPANION_PORTS, map(str, companions), strict=True))
        | {
            "PATH": os.pathsep.join(
                [str(Path(sys.executable).parent), "/usr/sbin", os.environ["PATH"]]
            )
        },
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    expected = [
        line[2:]
        for block in blocks
        for line in block.splitlines()
        if line.startswith("# ") and not line.startswith("# (")
    ]
    # The bus logs JSON lines to the same output; the rest is the doc's.
    printed = [line for line in result.stdout.splitlines() if not line.startswith("{")]
    assert printed == expected, result.stdout[-3000:]
    received = (tmp_path / "soc" / "received.log").read_text()
    assert "dongthap.viewer" in received
    assert "not-the-secret" not in received
    assert "demo-viewer-secret" not in received
