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

import pytest

from lgsp.testing.rabbitmq import RabbitCluster, RabbitNode
from lgsp.testing.servers import free_ports_in_a_row
from tests.support.processes import free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
DOC_URL = "amqp://lgsp:lgsp@rabbit-1:5672,rabbit-2:5672,rabbit-3:5672/"


def section(title: str) -> str:
    """The text under a heading (any level), to the next heading of its
    level or above (a `#` line inside a code block is not a heading)."""
    lines = DOC.read_text(encoding="utf-8").splitlines(keepends=True)
    level, fenced, out = 0, False, []
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"(#+) (.*)\n?$", line) if not fenced else None
        if heading and level and len(heading[1]) <= level:
            break
        if level:
            out.append(line)
        elif heading and heading[2] == title:
            level = len(heading[1])
    assert level, title
    return "".join(out)


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


def _run(script: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A doc's shell, what it starts in the background stopped (SIGTERM) at its end."""
    stop = "trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n"
    script = "set -euo pipefail\n" + stop + script
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        env=os.environ
        | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        | env,
        cwd=tmp_path,
    )


def _blocks(title: str) -> str:
    blocks = [m[2] for m in BLOCK.finditer(section(title)) if m[1] == "sh"]
    assert blocks, title
    return "\n".join(blocks)


@pytest.mark.amqp
def test_the_workers_section_runs(lgsp_rabbitmq_node: RabbitNode, tmp_path: Path) -> None:
    url = lgsp_rabbitmq_node.add_vhost("operations-workers")
    port, metrics = free_port(), free_ports_in_a_row(2)
    script = (
        _blocks("Several gateway workers on one port")
        .replace("amqp://guest:guest@127.0.0.1:5672/", url)
        .replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        .replace("--port 8080", f"--port {port}")
        .replace("--metrics-port 9100", f"--metrics-port {metrics}")
        .replace("127.0.0.1:9101", f"127.0.0.1:{metrics + 1}")
        .replace("/var/lib/", f"{tmp_path}/")
    )
    result = _run(script, tmp_path, {"LGSP_URL": f"http://127.0.0.1:{port}"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '{"soThuTuThua":345,"soHieuToBanDo":12}' in result.stdout


@pytest.mark.amqp
@pytest.mark.postgres
def test_the_store_sections_run_on_postgresql(
    lgsp_rabbitmq_node: RabbitNode, lgsp_postgres_url: str, tmp_path: Path
) -> None:
    """Two gateways on one PostgreSQL (a change through one listed through
    the other), then the exchange log's commands on what they wrote."""
    url = lgsp_rabbitmq_node.add_vhost("operations-store")
    a, b = free_port(), free_port()
    gateways = (
        _blocks("Several gateways on PostgreSQL")
        .replace("postgresql://lgsp:secret@db.internal:5432/lgsp", lgsp_postgres_url)
        .replace("amqp://lgsp:secret@mq.internal:5672/", url)
        .replace("8080", str(a))
        .replace("8081", str(b))
        .replace("/var/lib/", f"{tmp_path}/")
    )
    result = _run(gateways, tmp_path, {})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "\nland.parcel.lookup\n" in result.stdout  # listed through the other gateway
    log = (
        _blocks("The exchange log on PostgreSQL")
        .replace("postgresql://lgsp:secret@db.internal:5432/lgsp", lgsp_postgres_url)
        .replace("/srv/lgsp/archive", str(tmp_path / "archive"))
    )
    result = _run(log, tmp_path, {})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("chain intact") == 2
    assert (tmp_path / "november.csv").exists()
    assert (tmp_path / "november.html").exists()
