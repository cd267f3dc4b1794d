"""A circuit breaker for the NDXP connector: after repeated failures, callers
get a fast refusal instead of piling up on a platform that does not answer;
after a while one probe call is let through, and its success closes the
circuit again.

Written here rather than taken from PyPI: ``purgatory`` (asyncio-native)
lets every concurrent call through while half-open and reads the wall clock;
``circuitbreaker`` checks the state only in its decorator (not in
``call_async``) and has no state-change hook; ``pybreaker`` does async
through Tornado only; ``aiobreaker`` is unmaintained since 2021. What is
needed is small: one probe at a time, an injectable monotonic clock (tests
move time instead of sleeping), the time left open (for ``Retry-After``) and
the state as a number for a gauge.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from types import TracebackType


class State(enum.IntEnum):
    """The breaker's state; the values are the gauge's."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class BreakerOpen(Exception):
    """Refused without calling: the circuit is open (or its probe is out)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"circuit open, retry in {retry_after:.1f} s")
        self.retry_after = retry_after

    @property
    def retry_after_s(self) -> int:
        """Whole seconds to wait, at least one (a ``Retry-After`` value)."""
        return max(1, math.ceil(self.retry_after))


class CircuitBreaker:
    """Opens after ``failures`` failures in a row; stays open ``open_s``
    seconds, then lets one probe through (half-open): its success closes the
    circuit, its failure opens it again.

    Use :meth:`guard` around each call::

        with breaker.guard():
            answer = await call()

    An exception matching ``is_failure`` counts as a failure; any other
    outcome (an answer, or an error the remote side answered with) as a
    success.
    """

    def __init__(
        self,
        *,
        failures: int,
        open_s: float,
        is_failure: Callable[[BaseException], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or open_s <= 0:
            raise ValueError("failures must be at least 1 and open_s positive")
        self._threshold = failures
        self._open_s = open_s
        self._is_failure = is_failure
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return State.CLOSED
        if self._probing or self._clock() >= self._opened_at + self._open_s:
            return State.HALF_OPEN
        return State.OPEN

    def guard(self) -> _Guard:
        """Admit one call, or raise :class:`BreakerOpen`."""
        state = self.state
        if state is State.OPEN:
            assert self._opened_at is not None
            raise BreakerOpen(self._opened_at + self._open_s - self._clock())
        if state is State.HALF_OPEN:
            if self._probing:
                raise BreakerOpen(0.0)
            self._probing = True
            return _Guard(self, probe=True)
        return _Guard(self, probe=False)

    def _succeeded(self, probe: bool) -> None:
        if probe or self._opened_at is None:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def _failed(self, probe: bool) -> None:
        if probe:
            self._probing = False
            self._opened_at = self._clock()
            return
        if self._opened_at is not None:
            return  # opened meanwhile by another call
        self._failures += 1
        if self._failures >= self._threshold:
            self._opened_at = self._clock()


class _Guard:
    def __init__(self, breaker: CircuitBreaker, *, probe: bool) -> None:
        self._breaker = breaker
        self._probe = probe

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self._breaker._is_failure(exc):
            self._breaker._failed(self._probe)
        else:
            self._breaker._succeeded(self._probe)
