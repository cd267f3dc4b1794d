"""Live statistics: windows, percentiles, X-Road fields and bounded memory,
driven by records with explicit times (no clock, no sleeps)."""

from __future__ import annotations

import sys

import pytest

from lgsp.observe.record import ExchangeRecord
from lgsp.observe.stats import HISTORY_S, OTHER, LiveStats, Window

T0 = 1_750_000_000.0  # a round epoch second, on a slot boundary


def rec(
    at: float,
    *,
    duration: float = 0.01,
    name: str = "land.parcel.lookup",
    client: str = "dongthap.onestop",
    status: int = 200,
    code: str | None = None,
    kind: str = "service",
    request: bytes = b"{}",
    response: bytes = b'{"ok":true}',
) -> ExchangeRecord:
    return ExchangeRecord(
        kind="event" if kind == "event" else "service",
        request_id="r",
        client=client,
        name=name,
        version=1,
        received=at - duration,
        sent=at - duration,
        answered=at,
        status=status,
        code=code,
        request=request,
        response=response,
    )


def only(windows: list[Window]) -> Window:
    assert len(windows) == 1, windows
    return windows[0]


def test_counts_and_x_road_fields_over_the_window() -> None:
    stats = LiveStats()
    stats.record(rec(T0 + 1, duration=0.002, request=b"x" * 10, response=b"y" * 100))
    stats.record(rec(T0 + 2, duration=0.004, request=b"x" * 30, response=b"y" * 300))
    stats.record(
        rec(T0 + 3, duration=0.009, status=404, code="land.parcel.not_found", response=b"z" * 50)
    )

    w = only(stats.windows("services", T0 + 4, 300))
    assert (w.name, w.succeeded, w.failed, w.total) == ("land.parcel.lookup", 2, 1, 3)
    assert w.errors == {"land.parcel.not_found": 1}
    assert w.error_rate == pytest.approx(1 / 3)
    assert w.duration_min == pytest.approx(0.002, abs=1e-6)
    assert w.duration_max == pytest.approx(0.009, abs=1e-6)
    assert w.duration_avg == pytest.approx(0.005, abs=1e-6)
    assert (w.request_min, w.request_max) == (2, 30)
    assert w.request_avg == pytest.approx((10 + 30 + 2) / 3)
    assert (w.response_min, w.response_max) == (50, 300)
    assert w.last_success == T0 + 2
    assert w.last_failure == T0 + 3
    assert w.rate == pytest.approx(3 / 60)


def test_windows_roll_over_and_lifetime_figures_stay() -> None:
    stats = LiveStats()
    stats.record(rec(T0, status=503, code="service.unavailable"))
    stats.record(rec(T0 + 100))

    # At T0 + 200 a 300 s window holds both, a 150 s window the second only.
    assert only(stats.windows("services", T0 + 200, 300)).calls == 2
    recent = only(stats.windows("services", T0 + 200, 150))
    assert (recent.succeeded, recent.failed, recent.errors) == (1, 0, {})
    # Once everything is older than the window the service leaves the table,
    # but totals and the last failure time are since the start.
    assert stats.windows("services", T0 + 500, 300) == []
    assert stats.totals().exchanges == 2
    stats.record(rec(T0 + 600))
    w = only(stats.windows("services", T0 + 600, 60))
    assert (w.calls, w.total, w.last_failure) == (1, 3, T0)
    # After the whole history the ring slots are reused, not accumulated.
    stats.record(rec(T0 + 600 + HISTORY_S))
    assert only(stats.windows("services", T0 + 600 + HISTORY_S, HISTORY_S)).calls == 1


def test_series_is_per_second_and_forgets_after_fifteen_minutes() -> None:
    stats = LiveStats()
    for _ in range(5):
        stats.record(rec(T0 + 10.5))
    stats.record(rec(T0 + 11.2, status=500, code="internal.error"))
    stats.record(rec(T0 + 11.9, kind="event", name="onestop.dossier.status-changed", status=202))

    s = stats.series(T0 + 12)
    assert len(s.t) == HISTORY_S
    assert s.t[-1] == int(T0) + 12
    at = {
        t: (ok, bad, ev)
        for t, ok, bad, ev in zip(s.t, s.succeeded, s.failed, s.events, strict=True)
    }
    assert at[int(T0) + 10] == (5, 0, 0)
    assert at[int(T0) + 11] == (0, 1, 1)
    assert sum(s.succeeded) + sum(s.failed) + sum(s.events) == 7
    assert stats.rate(T0 + 11.95, seconds=10) == pytest.approx(6 / 10)
    assert stats.rate(T0 + 30, seconds=10) == 0

    later = stats.series(T0 + 12 + HISTORY_S)
    assert sum(later.succeeded) + sum(later.failed) + sum(later.events) == 0
    totals = stats.totals()
    assert (totals.exchanges, totals.failed, totals.events) == (6, 1, 1)


def test_percentiles_within_five_percent() -> None:
    stats = LiveStats()
    # 1..1000 ms, spread over a minute.
    for i in range(1, 1001):
        stats.record(rec(T0 + i % 60, duration=i / 1000))
    w = only(stats.windows("services", T0 + 60, 300))
    assert w.p50 == pytest.approx(0.500, rel=0.05)
    assert w.p99 == pytest.approx(0.990, rel=0.05)
    assert w.duration_min == pytest.approx(0.001, abs=1e-6)
    assert w.duration_max == pytest.approx(1.0, abs=1e-6)


def test_a_single_duration_is_its_own_percentile() -> None:
    stats = LiveStats()
    stats.record(rec(T0, duration=0.0123))
    w = only(stats.windows("services", T0, 60))
    # Clamped to what was observed, not a bucket's edge.
    assert w.p50 == w.p99 == pytest.approx(0.0123, abs=1e-6)


def test_events_and_clients_are_their_own_groups() -> None:
    stats = LiveStats()
    stats.record(rec(T0, kind="event", name="onestop.dossier.status-changed", status=202))
    stats.record(rec(T0, client="dongthap.land"))
    stats.record(rec(T0, client="dongthap.land", status=403, code="auth.forbidden"))

    assert only(stats.windows("topics", T0 + 1, 60)).name == "onestop.dossier.status-changed"
    assert only(stats.windows("services", T0 + 1, 60)).calls == 2
    clients = {w.name: (w.succeeded, w.failed) for w in stats.windows("clients", T0 + 1, 60)}
    assert clients == {"dongthap.land": (1, 1), "dongthap.onestop": (1, 0)}


def test_memory_is_bounded_by_key_caps_not_traffic() -> None:
    stats = LiveStats(max_keys=20)
    for i in range(2000):
        stats.record(
            rec(
                T0 + i,
                name=f"svc{i}",
                client=f"client{i}",
                status=500,
                code=f"code{i}",  # a misbehaving provider inventing codes
                duration=(i % 97 + 1) / 1000,
            )
        )
    services = stats.windows("services", T0 + 2000, HISTORY_S)
    assert len(services) <= 21
    assert any(w.name == OTHER for w in services)
    assert len(stats.windows("clients", T0 + 2000, HISTORY_S)) <= 21
    for w in services:
        assert len(w.errors) <= 32 * (HISTORY_S // 5 + 1)
    assert stats.totals().exchanges == 2000

    def size(stats: LiveStats) -> int:
        seen: set[int] = set()
        stack: list[object] = [stats]
        total = 0
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            total += sys.getsizeof(obj)
            if isinstance(obj, dict):
                stack.extend(obj.keys())
                stack.extend(obj.values())
            elif isinstance(obj, list | tuple):
                stack.extend(obj)
            elif hasattr(obj, "__slots__"):
                stack.extend(getattr(obj, s) for s in obj.__slots__ if hasattr(obj, s))
            elif hasattr(obj, "__dict__"):
                stack.append(vars(obj))
        return total

    before = size(stats)
    for i in range(2000, 20_000):
        stats.record(rec(T0 + 2000 + i % 900, name=f"svc{i}", client=f"client{i}"))
    # Ten times the traffic and as many new names: the same bounded shape.
    assert size(stats) < before * 1.5
