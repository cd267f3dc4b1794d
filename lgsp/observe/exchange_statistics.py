"""The bus's own service ``lgsp.exchange.statistics``: the exchanges of
each day, client and service, counted from the exchange log (as X-Road's
security servers answer their operational-data metaservice), so that the
province's warehouse takes them in through the bus like any other data.

Every gateway serves it over its transport, reading the log it writes (the
one log of a data folder, when gateways share one). Only counts travel."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from typing import Final
from zoneinfo import ZoneInfo

import orjson
import structlog

from lgsp.catalogue.registry import Registry
from lgsp.envelope import Envelope, Reply
from lgsp.observe.exchange_log import ExchangeLog
from lgsp.observe.exchange_log.chain import timestamp
from lgsp.observe.report import p95
from lgsp.transport.base import Transport
from lgsp_contracts.exchange import MAX_DAYS, PERIOD_INVALID, YeuCauThongKeTraoDoi

log = structlog.get_logger("lgsp.observe.exchange_statistics")

SERVICE: Final = "lgsp.exchange.statistics"
VERSION: Final = 1
DAY_ZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")
"""Days are the province's days."""
CHUNK: Final = 5_000
"""Records counted between two turns of the event loop."""

Key = tuple[dt.date, str, str]


def _bounds(first: dt.date, last: dt.date) -> tuple[str, str]:
    """The log's timestamps (UTC text, ordered) of the period's start and end."""
    start = dt.datetime.combine(first, dt.time(), DAY_ZONE)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), DAY_ZONE)
    return timestamp(start.timestamp()), timestamp(end.timestamp())


async def daily(
    exchange_log: ExchangeLog, first: dt.date, last: dt.date
) -> list[dict[str, object]]:
    """One row per day, client and service of the period that had exchanges."""
    start, end = _bounds(first, last)
    groups: dict[Key, tuple[list[int], list[float]]] = defaultdict(lambda: ([0, 0], []))
    rows = await exchange_log.columns("received, client, name, status, duration_ms", start, end)
    for at in range(0, len(rows), CHUNK):
        if at:
            # A month of a busy bus is millions of records: counted a chunk
            # at a time, the calls the gateway serves meanwhile wait for one
            # chunk (a few ms), not for the whole month (seconds).
            await asyncio.sleep(0)
        for received, client, name, status, duration in rows[at : at + CHUNK]:
            moment = dt.datetime.fromisoformat(str(received)).astimezone(DAY_ZONE)
            counts, durations = groups[(moment.date(), str(client), str(name))]
            counts[0] += 1
            if not (isinstance(status, int) and status < 400):
                counts[1] += 1
            if isinstance(duration, int | float):
                durations.append(float(duration))
    return [
        {
            "ngay": day.isoformat(),
            "client": client,
            "service": service,
            "soLuot": counts[0],
            "soLoi": counts[1],
            "thoiGianP95Ms": p95(durations),
        }
        for (day, client, service), (counts, durations) in sorted(groups.items())
    ]


class ExchangeStatistics:
    """The provider of ``lgsp.exchange.statistics`` v1 over one gateway's
    exchange log."""

    def __init__(self, exchange_log: ExchangeLog, instance: str) -> None:
        self.exchange_log = exchange_log
        self.instance = instance

    async def serve(self, transport: Transport, registry: Registry) -> bool:
        """Offer the service on the transport, when the registry declares it
        (a deployment may leave the bus's own contracts out): True if served."""
        if (SERVICE, VERSION) not in registry.fingerprints:
            return False
        await transport.serve(
            SERVICE,
            VERSION,
            self.handle,
            instance=self.instance,
            fingerprint=registry.fingerprint(SERVICE, VERSION),
        )
        return True

    async def handle(self, envelope: Envelope) -> Reply:
        try:
            request = envelope.payload
            if not isinstance(request, YeuCauThongKeTraoDoi):
                request = YeuCauThongKeTraoDoi.model_validate_json(envelope.body)
            first, last = request.tuNgay, request.denNgay
            if last < first or (last - first).days + 1 > MAX_DAYS:
                return Reply.declared(
                    422,
                    PERIOD_INVALID,
                    f"the period must run forward and be at most {MAX_DAYS} days "
                    f"({first} to {last} is not)",
                )
            rows = await daily(self.exchange_log, first, last)
        except Exception:
            log.exception("exchange_statistics.failed", request_id=envelope.request_id)
            return Reply.failed("the exchange log could not be read")
        return Reply(200, orjson.dumps({"danhSach": rows}))
