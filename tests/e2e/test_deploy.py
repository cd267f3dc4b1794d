"""deploy/ is checked, not just shipped: the compose file runs commands that
exist, the cluster's compose file forms one cluster of three nodes that the
gateway and the adapters all name, and the RabbitMQ definitions load into a
real broker and declare the topology the transport uses, quorum queues and
policies included (a mismatch would make the broker refuse it)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from lgsp.cli import main
from lgsp.testing.fixtures import unavailable
from lgsp.testing.rabbitmq import RabbitNode
from lgsp.transport import amqp
from lgsp.transport.amqp.nodes import node_address, node_urls
from tests.behaviour.transport.base import Inbox, echo

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose(name: str = "compose.yaml") -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8")))


def cluster_compose() -> dict[str, dict[str, Any]]:
    """compose.yaml's services with compose.cluster.yaml over them, merged
    as ``docker compose -f compose.yaml -f compose.cluster.yaml`` does:
    mappings key by key, volumes by their path in the container."""
    services: dict[str, dict[str, Any]] = compose()["services"]
    for name, override in compose("compose.cluster.yaml")["services"].items():
        merged = dict(services.get(name, {}))
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merged[key] | value
            elif key == "volumes" and key in merged:
                mounts = {v.split(":")[1]: v for v in merged[key]}
                merged[key] = list((mounts | {v.split(":")[1]: v for v in value}).values())
            else:
                merged[key] = value
        services[name] = merged
    return services


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


def definitions() -> dict[str, Any]:
    return dict(json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text(encoding="utf-8")))


def test_definitions_match_the_transport() -> None:
    d = definitions()
    exchanges = {e["name"]: e for e in d["exchanges"]}
    assert exchanges[amqp.EVENTS]["arguments"] == {"alternate-exchange": amqp.UNROUTED}
    assert {amqp.UNROUTED, amqp.DLX, amqp.CONTROL} <= set(exchanges)
    # Quorum queues, as the processes of compose.yaml declare them.
    assert compose()["x-lgsp"]["environment"]["LGSP_AMQP_QUEUE_TYPE"] == "quorum"
    queues = {q["name"]: q for q in d["queues"]}
    assert queues[amqp.DEAD_LETTERS]["arguments"] == amqp.dead_letters_arguments("quorum")
    assert queues[amqp.UNROUTED]["arguments"] == amqp.unrouted_arguments("quorum")


def import_definitions(node: RabbitNode, vhost: str) -> str:
    """The definitions imported into a virtual host of the node (their "/"
    becomes ``vhost``); its URL."""
    url = node.add_vhost(vhost)
    text = json.dumps(definitions()).replace('"vhost": "/"', f'"vhost": "{vhost}"')
    # The node runs as its own user: give it a copy it can read.
    copy = Path(node.folder) / "definitions.json"
    copy.write_text(text, encoding="utf-8")
    shutil.chown(copy, user=Path(node.folder).owner())
    node.ctl("import_definitions", str(copy), timeout=60)
    return url


@pytest.mark.amqp
async def test_definitions_load_into_a_real_broker_and_apply_to_lgsps_queues(
    lgsp_rabbitmq_node: RabbitNode,
) -> None:
    node, vhost = lgsp_rabbitmq_node, "deploy-definitions"
    url = await asyncio.to_thread(import_definitions, node, vhost)
    # A process of compose.yaml starts on them (no queue of another type) and
    # declares its queues; each is a quorum queue under lgsp's policy.
    transport = amqp.AmqpTransport(url, queue_type="quorum")
    await transport.start()
    try:
        await transport.serve("deploy.check", 1, echo, instance="p1")
        await transport.subscribe("deploy.checked", "deploy", Inbox().handle)
        listed = await asyncio.to_thread(
            node.ctl, "list_queues", "-p", vhost, "name", "type", "policy",
            "--quiet", "--no-table-headers", timeout=60,
        )  # fmt: skip
    finally:
        await transport.close()
    queues = {
        name: (kind, policy)
        for name, kind, policy in (line.split("\t") for line in listed.splitlines() if line)
    }
    assert queues[amqp.service_queue("deploy.check", 1)] == ("quorum", "lgsp-services")
    assert queues[amqp.subscriber_queue("deploy", "deploy.checked")] == (
        "quorum",
        "lgsp-subscribers",
    )
    assert queues[amqp.DEAD_LETTERS] == ("quorum", "lgsp-dead-letters-bounded")
    assert queues[amqp.UNROUTED] == ("quorum", "lgsp-unrouted-bounded")


# -- the cluster ----------------------------------------------------------------

NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")


def test_the_cluster_compose_file_runs_three_nodes_with_one_cookie() -> None:
    services = cluster_compose()
    assert {s for s in services if "rabbitmq" in s} == set(NODES)
    nodes = [services[name] for name in NODES]
    assert [n.get("hostname") for n in nodes] == list(NODES)
    assert len({n["environment"]["RABBITMQ_ERLANG_COOKIE"] for n in nodes}) == 1
    assert len({n["image"] for n in nodes}) == 1
    for name, node in zip(NODES, nodes, strict=True):
        mounts = {v.split(":")[1]: v.split(":")[0] for v in node["volumes"]}
        assert mounts["/etc/rabbitmq/definitions.json"] == "./rabbitmq/definitions.json", name
        assert mounts["/etc/rabbitmq/conf.d/20-lgsp-cluster.conf"] == (
            "./rabbitmq/rabbitmq-cluster.conf"
        ), name
        for source in mounts.values():
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
        assert "load_definitions" in node["environment"]["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
        assert node["healthcheck"]["test"], name
        # Published ports stay on the host's loopback.
        for port in node.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    # Each node its own data.
    data = [next(v for v in n["volumes"] if v.endswith(":/var/lib/rabbitmq")) for n in nodes]
    assert len(set(data)) == 3
    # The first boots alone; the others join it once it is healthy.
    for name in NODES[1:]:
        assert services[name]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"


def test_the_nodes_find_each_other_by_the_names_compose_gives_them() -> None:
    conf = (DEPLOY / "rabbitmq" / "rabbitmq-cluster.conf").read_text(encoding="utf-8")
    settings = dict(
        line.split(" = ", 1) for line in conf.splitlines() if line and not line.startswith("#")
    )
    assert settings["cluster_formation.peer_discovery_backend"] == "classic_config"
    peers = {v for k, v in settings.items() if k.startswith("cluster_formation.classic_config.")}
    assert peers == {f"rabbit@{name}" for name in NODES}
    assert settings["cluster_partition_handling"] == "pause_minority"


def test_the_gateway_and_the_adapters_name_every_node_and_use_quorum_queues() -> None:
    services = cluster_compose()
    for name in ("gateway", "adapters"):
        env = services[name]["environment"]
        nodes = [node_address(url) for url in node_urls(env["LGSP_AMQP_URL"])]
        assert nodes == [f"{node}:5672" for node in NODES], name
        assert env["LGSP_AMQP_QUEUE_TYPE"] == "quorum", name
        assert {node: {"condition": "service_healthy"} for node in NODES} == services[name][
            "depends_on"
        ], name
        # The rest of the service is compose.yaml's, checked above.
        assert services[name]["command"] == compose()["services"][name]["command"]


# -- Prometheus and Grafana ---------------------------------------------------

PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"


def promtool() -> str:
    """The promtool binary; a CI run must not pass by skipping."""
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool is not installed")
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
