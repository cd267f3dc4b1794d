"""How a simulated platform's own command (`lgsp ndxp-sim`, `lgsp vnform-sim`)
knows it is told to stop: SIGINT or SIGTERM sets an event it waits on."""

from __future__ import annotations

import asyncio
import contextlib
import signal


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (where the loop can take signals)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop
