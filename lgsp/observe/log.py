"""Structured logging: one event per line, key-values, no personal data.

JSON when stdout is not a terminal (production, containers), readable
columns on a terminal. Every line passes through :func:`mask`, so a full
personal identification number (số định danh, 12 digits) or a secret never
reaches a log, whatever a caller passes.
"""

from __future__ import annotations

import asyncio
import atexit
import io
import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from lgsp.masking import PERSONAL_ID, is_secret, mask_text, mask_value


def mask(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask personal ids and secrets in every field.

    Runs on every log line, so the common case (short strings, numbers) is a
    type check and a length check, nothing more."""
    for key, value in event_dict.items():
        kind = type(value)
        if kind is str:
            if len(value) >= 12 and PERSONAL_ID.search(value):
                event_dict[key] = mask_text(value)
        elif kind is int:
            if 100_000_000_000 <= value < 1_000_000_000_000:
                event_dict[key] = mask_text(str(value))
        elif not (kind is float or kind is bool or value is None):
            event_dict[key] = mask_value(value)
        if _secret_key(key):
            event_dict[key] = "***"
    return event_dict


_SECRET_KEY: dict[str, bool] = {}


def _secret_key(key: str) -> bool:
    # Field names come from the code, a few dozen of them: each is lowered
    # once, not on every line (bounded, should a caller spread a mapping).
    secret = _SECRET_KEY.get(key)
    if secret is None:
        secret = is_secret(key)
        if len(_SECRET_KEY) < 4096:
            _SECRET_KEY[key] = secret
    return secret


class _UtcStamper:
    """structlog processor: ``timestamp``, ISO 8601 UTC to the microsecond
    (``2026-12-01T18:17:13.270093Z``), the date and time formatted once a
    second rather than for every line as ``TimeStamper`` does."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        event_dict["timestamp"] = f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"
        return event_dict


class _LineWriter:
    """structlog logger writing lines to stdout through its own 64 KiB buffer
    (structlog's loggers flush every line: a system call per exchange, even
    more so under PYTHONUNBUFFERED). :func:`flush_periodically` pushes the
    buffer out at least every 0.25 s, and at shutdown."""

    def __init__(self, out: io.BufferedWriter) -> None:
        self._write = out.write

    def msg(self, message: bytes) -> None:
        self._write(message + b"\n")

    log = debug = info = warn = warning = msg
    error = critical = exception = fatal = msg


_out: io.BufferedWriter | None = None


def flush() -> None:
    """Push buffered log lines out now."""
    global _out
    if _out is None:
        return
    try:
        _out.flush()
    except (OSError, ValueError):
        # The stdout it writes to was closed under it (by whoever owned the
        # descriptor, e.g. a test's capture): those lines have nowhere to go,
        # and the next configuration must not fail on them.
        _out = None


atexit.register(flush)


async def flush_periodically(interval: float = 0.25) -> None:
    """Flush buffered log lines until cancelled (then once more), so they
    reach the reader within ``interval``."""
    try:
        while True:
            await asyncio.sleep(interval)
            flush()
    finally:
        flush()


def _orjson_dumps(obj: Any, default: Any = None) -> bytes:
    return orjson.dumps(obj, default=default or str)


def _json_lines() -> Any:
    """A factory of loggers writing to stdout's file descriptor as it is now."""
    global _out
    flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        # stdout is not a file (e.g. captured by a test runner): plain writes.
        return structlog.BytesLoggerFactory(sys.stdout.buffer)
    _out = io.BufferedWriter(io.FileIO(fd, "wb", closefd=False), 65536)
    writer = _LineWriter(_out)
    return lambda *_args: writer


def configure(level: str = "info", *, json: bool | None = None) -> None:
    """Set up structlog for the process. ``json`` defaults to "stdout is not a tty"."""
    if json is None:
        json = not sys.stdout.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # Libraries (aio-pika, aiohttp) log through the standard library: render
    # their lines the same way, masked, on stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.format_exc_info,
                mask,
                _UtcStamper(),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # Not `renderer`: a logging handler needs str, and that one
                # renders bytes for the buffered stdout writer.
                structlog.processors.JSONRenderer()
                if json
                else structlog.dev.ConsoleRenderer(colors=False),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.WARNING, logging.getLevelNamesMapping()[level.upper()]))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            mask,
            # After masking: a timestamp never holds personal data.
            _UtcStamper(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_json_lines() if json else structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
