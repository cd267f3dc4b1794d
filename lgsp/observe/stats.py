"""Live exchange statistics for operators: the dashboard and the operations
route read them.

X-Road's operational monitoring is the model: per service over a sliding
window, success and failure counts, last success and failure, min/avg/max
duration and request/response sizes; plus what a live page needs (rates,
p50/p99 latency, errors by problem code, usage per client).

Memory is bounded whatever the traffic: a ring of per-second counts for the
chart (15 minutes), and per service, topic and client a ring of 5-second
slots (15 minutes) whose latency histograms have a fixed set of logarithmic
buckets. Keys beyond a fixed number fold into ``other``. Recording is O(1);
reading merges at most 181 slots per key, on the operator's request only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from lgsp.observe.record import ExchangeRecord

HISTORY_S = 900
"""How far back the statistics reach (the chart's 15 minutes)."""
SLOT_S = 5
"""Resolution of per-service, per-topic and per-client windows."""
RATE_S = 60
"""Rates are averaged over the last minute of a window."""
OTHER = "other"
"""Where keys (services, topics, clients, problem codes) beyond the cap go."""

_SLOTS = HISTORY_S // SLOT_S + 1  # +1: the slot being filled now
_MAX_CODES = 32
# Latency buckets: bucket i >= 1 holds [_D0 * _R**(i-1), _D0 * _R**i), so a
# percentile is known to within 5 %; 10 µs to beyond 10 minutes.
_D0 = 1e-5
_R = 1.1
_LOG_R = math.log(_R)
_BUCKETS = 190

Group = Literal["services", "topics", "clients", "partners"]


def _bucket(duration: float) -> int:
    if duration <= _D0:
        return 0
    return min(int(math.log(duration / _D0) / _LOG_R) + 1, _BUCKETS - 1)


def _bucket_value(index: int) -> float:
    """A bucket's representative duration: its geometric middle."""
    return _D0 if index == 0 else _D0 * _R ** (index - 0.5)


class _Slot:
    """What one key saw during one 5-second slot."""

    __slots__ = (
        "codes",
        "dur_max",
        "dur_min",
        "dur_sum",
        "failed",
        "histogram",
        "k",
        "ok",
        "req_max",
        "req_min",
        "req_sum",
        "resp_max",
        "resp_min",
        "resp_sum",
    )

    def __init__(self, k: int) -> None:
        self.k = k
        self.ok = self.failed = 0
        self.dur_sum, self.dur_min, self.dur_max = 0.0, math.inf, 0.0
        self.req_sum, self.req_min, self.req_max = 0, math.inf, 0
        self.resp_sum, self.resp_min, self.resp_max = 0, math.inf, 0
        self.histogram: dict[int, int] = {}
        self.codes: dict[str, int] = {}


class _Series:
    """One key's slots over the history, and its lifetime figures."""

    __slots__ = ("failed_total", "last_failure", "last_success", "ok_total", "slots")

    def __init__(self) -> None:
        self.slots: list[_Slot | None] = [None] * _SLOTS
        self.ok_total = self.failed_total = 0
        self.last_success: float | None = None
        self.last_failure: float | None = None

    def add(self, rec: ExchangeRecord, success: bool, code: str | None) -> None:
        if success:
            self.ok_total += 1
            self.last_success = max(self.last_success or 0.0, rec.answered)
        else:
            self.failed_total += 1
            self.last_failure = max(self.last_failure or 0.0, rec.answered)
        k = int(rec.answered) // SLOT_S
        i = k % _SLOTS
        slot = self.slots[i]
        if slot is None or slot.k < k:
            slot = self.slots[i] = _Slot(k)
        elif slot.k > k:
            return  # older than the history: only the lifetime figures count it
        duration = max(0.0, rec.answered - rec.received)
        if success:
            slot.ok += 1
        else:
            slot.failed += 1
            if code is not None:
                if code not in slot.codes and len(slot.codes) >= _MAX_CODES:
                    code = OTHER
                slot.codes[code] = slot.codes.get(code, 0) + 1
        slot.dur_sum += duration
        slot.dur_min = min(slot.dur_min, duration)
        slot.dur_max = max(slot.dur_max, duration)
        req, resp = len(rec.request), len(rec.response)
        slot.req_sum += req
        slot.req_min = min(slot.req_min, req)
        slot.req_max = max(slot.req_max, req)
        slot.resp_sum += resp
        slot.resp_min = min(slot.resp_min, resp)
        slot.resp_max = max(slot.resp_max, resp)
        b = _bucket(duration)
        slot.histogram[b] = slot.histogram.get(b, 0) + 1


@dataclass(frozen=True, slots=True)
class Window:
    """One service, topic or client over a sliding window (to the slot).

    Durations are seconds, sizes bytes; min/avg/max are None when the window
    saw nothing. ``last_success``/``last_failure`` and the totals are since
    the gateway started (epoch seconds)."""

    name: str
    window_s: int
    succeeded: int
    failed: int
    rate: float
    """Exchanges per second over the last minute of the window."""
    errors: dict[str, int]
    """Failures by problem code."""
    duration_min: float | None
    duration_avg: float | None
    duration_max: float | None
    p50: float | None
    p99: float | None
    request_min: int | None
    request_avg: float | None
    request_max: int | None
    response_min: int | None
    response_avg: float | None
    response_max: int | None
    last_success: float | None
    last_failure: float | None
    total: int

    @property
    def calls(self) -> int:
        return self.succeeded + self.failed

    @property
    def error_rate(self) -> float:
        return self.failed / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts since the gateway started."""

    exchanges: int
    succeeded: int
    failed: int
    events: int
    events_refused: int


@dataclass(frozen=True, slots=True)
class Series:
    """Per-second counts for the chart, oldest first."""

    t: list[int]
    succeeded: list[int]
    failed: list[int]
    events: list[int]


class LiveStats:
    """A :class:`lgsp.observe.record.Recorder` keeping live statistics in memory.

    An exchange succeeds when its status is below 400 (X-Road counts a
    provider's fault as unsuccessful too). Times come from the record."""

    def __init__(self, *, max_keys: int = 256) -> None:
        self._max_keys = max_keys
        self._groups: dict[Group, dict[str, _Series]] = {
            "services": {},
            "topics": {},
            "clients": {},
            "partners": {},
        }
        self._stamp = [-1] * HISTORY_S
        self._ok = [0] * HISTORY_S
        self._failed = [0] * HISTORY_S
        self._events = [0] * HISTORY_S
        self._totals = [0, 0, 0, 0]  # services ok, failed; events ok, refused

    def record(self, record: ExchangeRecord) -> None:
        success = record.status < 400
        code = None if success else (record.code or f"http.{record.status}")
        event = record.kind == "event"
        self._totals[(2 if event else 0) + (0 if success else 1)] += 1
        self._series("topics" if event else "services", record.name).add(record, success, code)
        self._series("clients", record.client).add(record, success, code)
        if record.target is not None:
            self._series("partners", f"to {record.target}").add(record, success, code)
        elif record.origin is not None:
            self._series("partners", f"from {record.origin}").add(record, success, code)
        second = int(record.answered)
        i = second % HISTORY_S
        if self._stamp[i] < second:
            self._stamp[i] = second
            self._ok[i] = self._failed[i] = self._events[i] = 0
        elif self._stamp[i] > second:
            return  # older than the chart
        if event:
            self._events[i] += 1
        elif success:
            self._ok[i] += 1
        else:
            self._failed[i] += 1

    def _series(self, group: Group, name: str) -> _Series:
        keys = self._groups[group]
        series = keys.get(name)
        if series is None:
            if len(keys) >= self._max_keys:
                name = OTHER
                series = keys.get(name)
            if series is None:
                series = keys[name] = _Series()
        return series

    # -- reading ------------------------------------------------------------

    def totals(self) -> Totals:
        ok, failed, events, refused = self._totals
        return Totals(ok + failed, ok, failed, events, refused)

    def series(self, now: float, seconds: int = HISTORY_S) -> Series:
        """The last ``seconds`` (at most 15 minutes), one point a second,
        ending with the current second."""
        end = int(now)
        t = list(range(end - min(seconds, HISTORY_S) + 1, end + 1))
        ok, failed, events = [], [], []
        for second in t:
            i = second % HISTORY_S
            fresh = self._stamp[i] == second
            ok.append(self._ok[i] if fresh else 0)
            failed.append(self._failed[i] if fresh else 0)
            events.append(self._events[i] if fresh else 0)
        return Series(t, ok, failed, events)

    def rate(self, now: float, seconds: int = 10) -> float:
        """Service exchanges per second over the last ``seconds`` seconds,
        the current one included (so traffic shows at once)."""
        s = self.series(now, seconds)
        return (sum(s.succeeded) + sum(s.failed)) / seconds

    def windows(self, group: Group, now: float, seconds: int) -> list[Window]:
        """Every key of the group seen in the last ``seconds`` (at most 15
        minutes), busiest first."""
        seconds = min(seconds, HISTORY_S)
        out = [
            w
            for name, series in self._groups[group].items()
            if (w := _window(name, series, now, seconds)).calls
        ]
        out.sort(key=lambda w: (-w.calls, w.name))
        return out


def _window(name: str, series: _Series, now: float, seconds: int) -> Window:
    current = int(now) // SLOT_S
    oldest = (int(now) - seconds) // SLOT_S + 1
    recent = (int(now) - min(seconds, RATE_S)) // SLOT_S + 1
    ok = failed = recent_calls = 0
    dur_sum, dur_min, dur_max = 0.0, math.inf, 0.0
    req_sum, req_min, req_max = 0, math.inf, 0
    resp_sum, resp_min, resp_max = 0, math.inf, 0
    histogram = [0] * _BUCKETS
    errors: dict[str, int] = {}
    for slot in series.slots:
        if slot is None or not oldest <= slot.k <= current:
            continue
        ok += slot.ok
        failed += slot.failed
        if slot.k >= recent:
            recent_calls += slot.ok + slot.failed
        dur_sum += slot.dur_sum
        dur_min, dur_max = min(dur_min, slot.dur_min), max(dur_max, slot.dur_max)
        req_sum += slot.req_sum
        req_min, req_max = min(req_min, slot.req_min), max(req_max, slot.req_max)
        resp_sum += slot.resp_sum
        resp_min, resp_max = min(resp_min, slot.resp_min), max(resp_max, slot.resp_max)
        for b, n in slot.histogram.items():
            histogram[b] += n
        for code, n in slot.codes.items():
            errors[code] = errors.get(code, 0) + n
    n = ok + failed
    return Window(
        name=name,
        window_s=seconds,
        succeeded=ok,
        failed=failed,
        rate=recent_calls / min(seconds, RATE_S),
        errors=dict(sorted(errors.items(), key=lambda kv: -kv[1])),
        duration_min=dur_min if n else None,
        duration_avg=dur_sum / n if n else None,
        duration_max=dur_max if n else None,
        p50=_percentile(histogram, n, 0.50, dur_min, dur_max),
        p99=_percentile(histogram, n, 0.99, dur_min, dur_max),
        request_min=int(req_min) if n else None,
        request_avg=req_sum / n if n else None,
        request_max=req_max if n else None,
        response_min=int(resp_min) if n else None,
        response_avg=resp_sum / n if n else None,
        response_max=resp_max if n else None,
        last_success=series.last_success,
        last_failure=series.last_failure,
        total=series.ok_total + series.failed_total,
    )


def _percentile(histogram: list[int], n: int, q: float, low: float, high: float) -> float | None:
    """The q-quantile from bucket counts, kept within the observed range."""
    if not n:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for b, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return min(max(_bucket_value(b), low), high)
    return high
