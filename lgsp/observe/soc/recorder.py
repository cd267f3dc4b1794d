"""The SOC's recorder: every finished exchange is looked at for what the
monitoring centre wants to know. Refusals of a token (401), of a grant
(403) and of a quota (429) are events of their own; patterns become alerts
once per window and caller: a burst of refused inputs (400, 413, 415, 422)
and one client walking through personal ids on ``population.*`` services
(many distinct ids, or many not-found answers). The ids are never kept:
only their hashes in this process's memory, only counts in the alert."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lgsp.config import SocConfig
from lgsp.observe.record import ExchangeRecord
from lgsp.observe.soc import SOURCE_IP, SocFeed

_REFUSALS = {401: "auth.unauthenticated", 403: "auth.forbidden", 429: "rate.limited"}
_INPUT_REFUSALS = frozenset({400, 413, 415, 422})
_PERSONAL_ID = re.compile(rb"(?<!\d)\d{12}(?!\d)")
_WATCHED = "population."
MAX_CALLERS = 10_000
"""Callers with a window open at once; past that the oldest window goes
(a flood of addresses cannot grow the gateway's memory without bound)."""


@dataclass(slots=True)
class _Window:
    opened: float
    refusals: int = 0
    ids: set[int] = field(default_factory=set)
    not_found: int = 0
    alerted: bool = False


class SocRecorder:
    """Takes every finished exchange (:class:`lgsp.observe.record.Recorder`)."""

    def __init__(
        self, feed: SocFeed, config: SocConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.feed = feed
        self.config = config
        self.clock = clock
        self._inputs: dict[str, _Window] = {}
        self._lookups: dict[str, _Window] = {}

    def record(self, record: ExchangeRecord) -> None:
        status = record.status
        refusal = _REFUSALS.get(status)
        if refusal is not None and record.code != "auth.blocked":
            self.feed.emit(
                refusal,
                client=record.client,
                request_id=record.request_id,
                fields={
                    "lgsp.service": record.name,
                    "lgsp.code": record.code,
                    "http.response.status_code": status,
                },
            )
        elif status in _INPUT_REFUSALS:
            self._input_refused(record)
        if record.name.startswith(_WATCHED) and record.client != "-":
            self._looked_up(record)

    def _window(self, windows: dict[str, _Window], key: str, length: float) -> _Window:
        now = self.clock()
        window = windows.get(key)
        if window is None or now - window.opened >= length:
            window = windows[key] = _Window(now)
            if len(windows) > MAX_CALLERS:
                del windows[next(iter(windows))]
        return window

    def _input_refused(self, record: ExchangeRecord) -> None:
        caller = record.client if record.client != "-" else f"ip:{SOURCE_IP.get()}"
        window = self._window(self._inputs, caller, self.config.input_window_s)
        window.refusals += 1
        if window.refusals >= self.config.input_burst and not window.alerted:
            window.alerted = True
            self.feed.emit(
                "input.burst",
                client=record.client,
                request_id=record.request_id,
                fields={
                    "lgsp.service": record.name,
                    "lgsp.code": record.code,
                    "lgsp.count": window.refusals,
                    "lgsp.window_s": self.config.input_window_s,
                },
            )

    def _looked_up(self, record: ExchangeRecord) -> None:
        window = self._window(self._lookups, record.client, self.config.enumeration_window_s)
        if window.alerted:
            return
        for found in _PERSONAL_ID.findall(record.request):
            window.ids.add(hash(found))
        if record.status == 404:
            window.not_found += 1
        config = self.config
        if len(window.ids) >= config.enumeration_ids or window.not_found >= (
            config.enumeration_not_found
        ):
            window.alerted = True
            self.feed.emit(
                "personal_id.enumeration",
                client=record.client,
                request_id=record.request_id,
                fields={
                    "lgsp.service": record.name,
                    "lgsp.distinct_ids": len(window.ids),
                    "lgsp.not_found": window.not_found,
                    "lgsp.window_s": config.enumeration_window_s,
                },
            )
            window.ids.clear()
