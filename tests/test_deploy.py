"""deploy/ is checked, not just shipped: the compose file runs commands that
exist, and the RabbitMQ definitions load into a real broker and declare the
topology the transport uses (a mismatch would make the broker refuse it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from lgsp.cli import main
from lgsp.testing.rabbitmq import RabbitNode
from lgsp.transport import amqp

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8")))


def test_compose_services_run_real_commands() -> None:
    services = compose()["services"]
    assert {"rabbitmq", "gateway", "adapters", "ndxp-sim"} <= set(services)
    for name in ("gateway", "adapters", "ndxp-sim"):
        args = services[name]["command"]
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0, (name, result.output)
    # Published ports stay on the host's loopback unless an operator opens them.
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_dockerfile_builds_from_the_repository_layout() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    root = DEPLOY.parent
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (root / source).exists(), source
    assert compose()["x-lgsp"]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_definitions_match_the_transport() -> None:
    d = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text(encoding="utf-8"))
    exchanges = {e["name"]: e for e in d["exchanges"]}
    assert exchanges[amqp.EVENTS]["arguments"] == {"alternate-exchange": amqp.UNROUTED}
    assert {amqp.UNROUTED, amqp.DLX, amqp.CONTROL} <= set(exchanges)
    queues = {q["name"]: q for q in d["queues"]}
    assert queues[amqp.DEAD_LETTERS]["arguments"] == dict(amqp.DEAD_LETTERS_ARGUMENTS)


@pytest.mark.amqp
def test_definitions_load_into_a_real_broker(rabbitmq_node: RabbitNode) -> None:
    # The node runs as its own user: give it a copy it can read.
    copy = Path(rabbitmq_node.folder) / "definitions.json"
    shutil.copyfile(DEPLOY / "rabbitmq" / "definitions.json", copy)
    shutil.chown(copy, user=Path(rabbitmq_node.folder).owner())
    rabbitmq_node.ctl("import_definitions", str(copy), timeout=60)
    queues = rabbitmq_node.ctl("list_queues", "name", "arguments", timeout=60)
    assert amqp.DEAD_LETTERS in queues
    policies = rabbitmq_node.ctl("list_policies", timeout=60)
    assert "lgsp-dead-letters-bounded" in policies
