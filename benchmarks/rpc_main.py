"""The command line of the RPC cases' two processes (the HTTP front that
sends requests over RabbitMQ, and the consumer that answers them), shared
by the bare floor and the FastStream peer."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from benchmarks.exchange import Exchange


def main(
    doc: str,
    make_app: Callable[[str], web.Application],
    consume: Callable[[str, dict[str, Any], asyncio.Event], Coroutine[Any, Any, None]],
) -> None:
    """``server`` runs ``make_app(url)``; ``consumer`` runs ``consume(url,
    response, stop)`` until SIGTERM/SIGINT sets ``stop``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    server = sub.add_parser("server", help="the HTTP front that sends the RPC requests")
    server.add_argument("--amqp-url", required=True)
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, required=True)
    consumer = sub.add_parser("consumer", help="the process that answers them")
    consumer.add_argument("--amqp-url", required=True)
    consumer.add_argument("--exchange", type=Path, required=True, help="JSON written by run.py")
    args = parser.parse_args()
    if args.mode == "server":
        web.run_app(
            make_app(args.amqp_url), host=args.host, port=args.port, access_log=None, print=None
        )
    else:
        asyncio.run(_until_signalled(consume, args.amqp_url, Exchange.read(args.exchange).response))


async def _until_signalled(
    consume: Callable[[str, dict[str, Any], asyncio.Event], Coroutine[Any, Any, None]],
    amqp_url: str,
    response: dict[str, Any],
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await consume(amqp_url, response, stop)
