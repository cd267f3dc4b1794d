"""The fault suite's subscriber: an adapter of its own, run with
``lgsp adapter run benchmarks.chaos_counter:adapter``, that notes every
event it processes as one line (``event_id note``; the suite's events carry
their number in the note) appended to the file
named by ``CHAOS_COUNTER_FILE``. The suite reads the file to count what
was delivered, lost and processed twice; a line is written before the
handler returns, so a process killed after it has still counted it."""

from __future__ import annotations

import os

from lgsp import Adapter, Context
from lgsp_contracts.onestop import SuKienTrangThaiHoSo

TOPIC = "onestop.dossier.status-changed"
SUBSCRIBER = "chaos.counter"

adapter = Adapter("chaos-counter", agency="the fault suite")
_fd: int | None = None


@adapter.on_start
async def _open(ctx: Context) -> None:
    global _fd
    _fd = os.open(os.environ["CHAOS_COUNTER_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


@adapter.subscribe(TOPIC, name=SUBSCRIBER)
async def count(event: SuKienTrangThaiHoSo, ctx: Context) -> None:
    assert _fd is not None
    # One write(2) per line with O_APPEND: whole lines, whatever kills the process.
    os.write(_fd, f"{ctx.event_id} {event.ghiChu}\n".encode())
