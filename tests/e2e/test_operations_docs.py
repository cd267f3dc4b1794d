"""docs/operations.md runs where it can here: the shell blocks of its
cluster section start a gateway and the land database on a real
three-node RabbitMQ cluster (the kit's) with quorum queues, and call
through them; the queues they declare are quorum queues on every node."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from lgsp.testing.rabbitmq import RabbitCluster
from tests.support.processes import free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
DOC_URL = "amqp://lgsp:lgsp@rabbit-1:5672,rabbit-2:5672,rabbit-3:5672/"


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_cluster_section_runs_on_a_cluster(
    lgsp_rabbitmq_cluster: RabbitCluster, tmp_path: Path
) -> None:
    blocks = [m[2] for m in BLOCK.finditer(section("A RabbitMQ cluster")) if m[1] == "sh"]
    assert blocks
    script = "\n".join(blocks)
    assert DOC_URL in script
    cluster, port = lgsp_rabbitmq_cluster, free_port()
    url = cluster.add_vhost("operations-docs")
    script = (
        script.replace(DOC_URL, url)
        .replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        .replace("--port 8080", f"--port {port}")
        .replace("/var/lib/lgsp-adapters", str(tmp_path / "adapters"))
        .replace("/var/lib/lgsp", str(tmp_path / "gateway"))
    )
    # What the block starts in the background is stopped (SIGTERM) at its end.
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + script
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ
        | {
            "LGSP_URL": f"http://127.0.0.1:{port}",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '{"soThuTuThua":345,"soHieuToBanDo":12}' in result.stdout

    listed = cluster.ctl(
        "list_queues", "-p", "operations-docs", "name", "type", "members",
        "--quiet", "--no-table-headers", timeout=60,
    )  # fmt: skip
    queues = {line.split("\t")[0]: line.split("\t")[1:] for line in listed.splitlines() if line}
    kind, members = queues["lgsp.svc.land.parcel.lookup.v1"]
    assert kind == "quorum"
    assert all(node.name in members for node in cluster.nodes)
