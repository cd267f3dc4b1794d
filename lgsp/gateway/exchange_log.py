"""``GET /v1/admin/exchanges``: operators read the exchange log over HTTP.

Filters as ``lgsp audit export`` takes them (``from``, ``to``, ``client``,
``service``, ``status``), paged by record number: ``after`` is the cursor,
``next`` in the answer the one to pass for the following page.
"""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from lgsp.audit import ExchangeLog, Query, as_json

DEFAULT_PAGE = 100


class ExchangeLogRoute:
    """The admin route over one gateway's :class:`~lgsp.audit.ExchangeLog`."""

    def __init__(self, exchange_log: ExchangeLog) -> None:
        self.exchange_log = exchange_log

    async def exchanges(self, request: web.Request) -> web.Response:
        query = Query.parse(request.query, default_limit=DEFAULT_PAGE)
        limit = query.limit or DEFAULT_PAGE
        # One more than asked tells whether a next page exists.
        rows = await self.exchange_log.page(replace(query, limit=limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = rows[-1]["seq"] if more else None
        return web.json_response(
            {"exchanges": [as_json(row) for row in rows], "next": cursor},
            headers={"Cache-Control": "no-store"},
        )
