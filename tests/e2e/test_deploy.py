"""deploy/ is checked, not just shipped: the compose file runs commands that
exist, and the RabbitMQ definitions load into a real broker and declare the
topology the transport uses (a mismatch would make the broker refuse it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from lgsp.cli import main
from lgsp.testing.rabbitmq import RabbitNode
from lgsp.transport import amqp

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


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
    assert queues[amqp.DEAD_LETTERS]["arguments"] == amqp.dead_letters_arguments("classic")


@pytest.mark.amqp
def test_definitions_load_into_a_real_broker(lgsp_rabbitmq_node: RabbitNode) -> None:
    # The node runs as its own user: give it a copy it can read.
    copy = Path(lgsp_rabbitmq_node.folder) / "definitions.json"
    shutil.copyfile(DEPLOY / "rabbitmq" / "definitions.json", copy)
    shutil.chown(copy, user=Path(lgsp_rabbitmq_node.folder).owner())
    lgsp_rabbitmq_node.ctl("import_definitions", str(copy), timeout=60)
    queues = lgsp_rabbitmq_node.ctl("list_queues", "name", "arguments", timeout=60)
    assert amqp.DEAD_LETTERS in queues
    policies = lgsp_rabbitmq_node.ctl("list_policies", timeout=60)
    assert "lgsp-dead-letters-bounded" in policies


# -- Prometheus and Grafana ---------------------------------------------------

PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"


def promtool() -> str:
    """The promtool binary; a CI run must not pass by skipping."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed")
        pytest.skip("promtool is not installed")
    return found


def run_promtool(*args: str) -> str:
    result = subprocess.run(
        [promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_prometheus_config_and_rules_are_valid() -> None:
    run_promtool("check", "config", "prometheus.yml")
    assert "SUCCESS: 5 rules found" in run_promtool("check", "rules", "alerts.yml")


def test_each_alert_fires_when_it_should_and_only_then() -> None:
    assert "SUCCESS" in run_promtool("test", "rules", "alerts.test.yml")
    tested = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text(encoding="utf-8"))
    checked = {t["alertname"] for case in tested["tests"] for t in case["alert_rule_test"]}
    assert checked == set(alerts())


def alerts() -> dict[str, dict[str, Any]]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    return {r["alert"]: r for group in rules["groups"] for r in group["rules"]}


def test_alerts_have_severity_summary_and_a_wait() -> None:
    assert set(alerts()) == {
        "LgspProviderDown",
        "LgspErrorRatioHigh",
        "LgspLatencyP99OverBudget",
        "LgspDeadLettersPresent",
        "LgspNdxpBreakerOpen",
    }
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["description"], name
        assert rule["for"], name


def test_prometheus_scrapes_what_compose_runs() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    targets = {
        job["job_name"]: [t for s in job["static_configs"] for t in s["targets"]]
        for job in config["scrape_configs"]
    }
    services = compose()["services"]
    gateway_port = services["gateway"]["command"][
        services["gateway"]["command"].index("--port") + 1
    ]
    adapters = services["adapters"]["command"]
    metrics_port = adapters[adapters.index("--metrics-port") + 1]
    # Bound beyond the container's loopback, or Prometheus cannot reach it.
    assert adapters[adapters.index("--host") + 1] == "0.0.0.0"
    assert targets == {
        "lgsp-gateway": [f"gateway:{gateway_port}"],
        "lgsp-adapters": [f"adapters:{metrics_port}"],
    }


def test_compose_mounts_the_files_it_names() -> None:
    services = compose()["services"]
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["prometheus"]["volumes"]}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"
    assert mounts["/etc/prometheus/alerts.yml"] == "./prometheus/alerts.yml"
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "lgsp.yaml").read_text(encoding="utf-8")
    )
    grafana = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"]}
    assert grafana[provider["providers"][0]["options"]["path"]] == "./grafana/dashboards"
    assert grafana["/etc/grafana/provisioning"] == "./grafana/provisioning"


def dashboard() -> dict[str, Any]:
    return dict(json.loads((GRAFANA / "dashboards" / "lgsp.json").read_text(encoding="utf-8")))


def dashboard_queries() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]


def test_grafana_dashboard_is_complete_and_uses_the_provisioned_datasource() -> None:
    d = dashboard()
    assert isinstance(d["schemaVersion"], int)
    assert d["uid"]
    assert d["time"]["from"] == "now-15m"
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text(encoding="utf-8")
    )["datasources"]
    (source,) = datasources
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose()["services"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for panel in d["panels"]:
        assert panel["title"], panel
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
    # The page's panels, each shown by at least one query.
    queries = "\n".join(dashboard_queries())
    for metric in (
        "lgsp_requests_total",
        "lgsp_request_duration_seconds_bucket",
        "lgsp_request_errors_total",
        "lgsp_providers_online",
        "lgsp_provider_heartbeat_age_seconds",
        "lgsp_ndxp_breaker_state",
        "lgsp_ndxp_token_expiry_timestamp_seconds",
        "lgsp_queue_messages",
        "lgsp_dead_letters",
        "lgsp_events_published_total",
        "lgsp_events_delivered_total",
    ):
        assert metric in queries, metric
