"""End to end: the SOC's blocklist on `lgsp gateway --workers 2`, two
gateway processes on one port, each reading the list itself. A client id
and then a network put on the list are refused by both workers within
seconds, without a restart, the token endpoint included; an unreadable
list leaves the last good one in force; emptied, the list lets everyone
back. Each refusal reaches the SOC's collector (the kit's rsyslog) from
the worker that made it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lgsp.testing.rsyslog import RsyslogCollector
from lgsp.testing.servers import free_ports_in_a_row
from tests.support.processes import free_port, lgsp, token, wait_until

pytestmark = pytest.mark.amqp

VIEWER = ("dongthap.viewer", "demo-viewer-secret")


class Workers:
    def __init__(self, base: str, metrics: int) -> None:
        self.base = base
        self.metrics_ports = (metrics, metrics + 1)

    def metric(self, worker: int, name: str, **labels: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_ports[worker - 1]}/metrics").text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def until_both(self, call: Callable[[], object], name: str, **labels: str) -> None:
        """Call (a new connection each time, to either worker) until both
        workers' ``name`` has grown."""
        before = [self.metric(w, name, **labels) for w in (1, 2)]

        def both() -> bool:
            call()
            return all(self.metric(w, name, **labels) > before[w - 1] for w in (1, 2))

        wait_until(both, f"both workers to count {name} {labels}", timeout=30)

    def call(self, bearer: str) -> httpx.Response:
        return httpx.post(
            f"{self.base}/v1/services/no.such.service",
            json={},
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=15,
        )

    def token_answer(self, client_id: str, secret: str) -> httpx.Response:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        return httpx.post(f"{self.base}/oauth2/token", data=form, timeout=15)


def test_both_workers_enforce_the_blocklist_within_seconds(
    lgsp_rabbitmq_url: str, collector: RsyslogCollector, tmp_path: Path
) -> None:
    listed = tmp_path / "blocklist.json"
    listed.write_text(json.dumps({"addresses": [], "clients": []}))
    port, metrics = free_port(), free_ports_in_a_row(2)
    env = {
        "LGSP_SOC_BLOCKLIST": str(listed),
        "LGSP_SOC_BLOCKLIST_REFRESH_S": "0.2",
        "LGSP_SOC_URL": collector.url,
        "LGSP_SOC_CA": str(collector.ca_file),
    }
    args = ["gateway", "--workers", "2", "--amqp-url", lgsp_rabbitmq_url, "--port", str(port)]
    log = tmp_path / "gw.log"
    with lgsp(*args, "--metrics-port", str(metrics), log=log, env=env) as gw:
        workers = Workers(f"http://127.0.0.1:{port}", metrics)
        wait_until(lambda: "gateway.workers_ready" in log.read_text(), "both workers", process=gw)
        viewer = token(workers.base, *VIEWER)
        assert workers.call(viewer).status_code == 404

        # A client id on the list: its calls and its token requests are refused.
        listed.write_text(json.dumps({"clients": ["dongthap.viewer"]}))
        workers.until_both(lambda: workers.call(viewer), "lgsp_blocked_requests_total", by="client")
        answer = workers.call(viewer)
        assert answer.status_code == 403
        assert answer.json()["code"] == "auth.blocked"
        refused = workers.token_answer(*VIEWER)
        assert refused.status_code == 403
        assert refused.json()["error"] == "access_denied"
        assert workers.token_answer("dongthap.onestop", "demo-onestop-secret").status_code == 200

        # A network on the list: everything from it but health is refused.
        listed.write_text(json.dumps({"addresses": ["127.0.0.0/8"]}))
        workers.until_both(
            lambda: workers.token_answer("dongthap.onestop", "demo-onestop-secret"),
            "lgsp_blocked_requests_total",
            by="address",
        )
        assert httpx.get(f"{workers.base}/v1/services").json()["code"] == "auth.blocked"
        assert httpx.get(f"{workers.base}/healthz").status_code == 200

        # An unreadable list: the last good one stays in force, said by a metric.
        listed.write_text("{not json")
        workers.until_both(lambda: None, "lgsp_soc_blocklist_failures_total")
        assert workers.metric(1, "lgsp_soc_blocklist_stale") == 1
        assert httpx.get(f"{workers.base}/v1/services").status_code == 403

        # Emptied: everyone is back, on both workers.
        listed.write_text(json.dumps({}))
        workers.until_both(
            lambda: workers.call(viewer), "lgsp_requests_total", status="404", client=VIEWER[0]
        )
        assert workers.token_answer(*VIEWER).status_code == 200

        # Each refusal was an event for the SOC, from the worker that refused.
        def blocked_by_both() -> bool:
            refusals = [r for r in collector.received() if r.msgid == "auth.blocked"]
            return len({r.procid for r in refusals}) == 2

        wait_until(blocked_by_both, "both workers' refusals at the collector")
