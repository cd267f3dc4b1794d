"""Floor of the memory case: a bare aiohttp server with one POST handler.

It does the least any JSON-over-HTTP service must do (read the body, parse it
with orjson, serialise the same response lgsp answers) and nothing else: no
auth, no contract check, no logging. lgsp-memory is measured against it.

    python -m benchmarks.bare_http --port 8081 --exchange exchange.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from benchmarks.exchange import PATH, Exchange


def make_app(response: dict[str, Any]) -> web.Application:
    async def lookup(request: web.Request) -> web.Response:
        payload = orjson.loads(await request.read())
        if not isinstance(payload, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        return web.Response(body=orjson.dumps(response), content_type="application/json")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ready"}', content_type="application/json")

    app = web.Application()
    app.router.add_post(PATH, lookup)
    app.router.add_get("/readyz", readyz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--exchange", type=Path, required=True, help="JSON written by run.py")
    args = parser.parse_args()
    exchange = Exchange.read(args.exchange)
    web.run_app(
        make_app(exchange.response), host=args.host, port=args.port, access_log=None, print=None
    )


if __name__ == "__main__":
    main()
