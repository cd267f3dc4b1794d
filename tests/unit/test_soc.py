"""The SOC feed's parts without a collector: the RFC 5424 frame, and the
recorder's patterns (bursts of refused inputs, walking through personal ids)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from lgsp.config import SocConfig
from lgsp.observe.record import ExchangeRecord
from lgsp.observe.soc import SOURCE_IP, SocFeed
from lgsp.observe.soc.recorder import SocRecorder
from lgsp.observe.soc.syslog import message


def test_a_message_is_rfc_5424_framed_by_its_length() -> None:
    framed = message(
        severity=4,
        timestamp=datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
        hostname="gw 1",
        app_name="lgsp",
        procid=42,
        msgid="auth.forbidden",
        body='{"a":1}',
    )
    length, _, line = framed.partition(b" ")
    assert int(length) == len(line)
    # Facility 13 (log audit) * 8 + warning; a space in a header field is dropped.
    assert line == b'<108>1 2026-01-02T03:04:05.006000Z gw1 lgsp 42 auth.forbidden - {"a":1}'


class Recording(SocFeed):
    def __init__(self, config: SocConfig) -> None:
        super().__init__(config, "dongthap")
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, kind: str, **given: Any) -> None:
        self.events.append((kind, given))


def _exchange(
    client: str, status: int, name: str = "population.citizen.lookup", **more: Any
) -> ExchangeRecord:
    return ExchangeRecord("service", "r", 0.0, client=client, name=name, status=status, **more)


def test_one_alert_for_a_burst_of_refused_inputs_per_window() -> None:
    now = [0.0]
    config = SocConfig(input_burst=3, input_window_s=60)
    feed = Recording(config)
    recorder = SocRecorder(feed, config, clock=lambda: now[0])
    held = SOURCE_IP.set("192.0.2.9")  # an unauthenticated caller: by its address
    try:
        for _ in range(5):
            recorder.record(_exchange("-", 400, name="unknown"))
        assert [k for k, _ in feed.events] == ["input.burst"]
        now[0] = 61.0  # a new window: a new alert once the threshold is met again
        for _ in range(3):
            recorder.record(_exchange("-", 422, name="unknown"))
        assert [k for k, _ in feed.events] == ["input.burst", "input.burst"]
    finally:
        SOURCE_IP.reset(held)


def test_walking_through_personal_ids_alerts_with_counts_only() -> None:
    config = SocConfig(enumeration_ids=4, enumeration_not_found=3)
    feed = Recording(config)
    recorder = SocRecorder(feed, config)
    for i in range(4):
        body = b'{"soDinhDanh": "08709000%04d"}' % i
        recorder.record(_exchange("a.client", 200, request=body))
    ((kind, given),) = feed.events
    assert kind == "personal_id.enumeration"
    assert given["fields"]["lgsp.distinct_ids"] == 4
    assert not re.search(r"\d{12}", repr(given))
    # Not-found answers count too, for another client.
    for _ in range(3):
        recorder.record(_exchange("b.client", 404, request=b"{}"))
    assert [k for k, _ in feed.events][-1] == "personal_id.enumeration"
    # Other services are not watched.
    for _ in range(10):
        recorder.record(_exchange("c.client", 404, name="land.parcel.lookup"))
    assert len(feed.events) == 2


def test_refusals_are_events_of_their_own() -> None:
    config = SocConfig()
    feed = Recording(config)
    recorder = SocRecorder(feed, config)
    for status in (401, 403, 429, 200, 503):
        recorder.record(_exchange("a.client", status, name="land.parcel.lookup"))
    assert [k for k, _ in feed.events] == ["auth.unauthenticated", "auth.forbidden", "rate.limited"]
