"""Structured logging: one event per line, key-values, no personal data.

JSON when stdout is not a terminal (production, containers), readable
columns on a terminal. Every line passes through :func:`mask`, so a full
personal identification number (số định danh, 12 digits) or a secret never
reaches a log, whatever a caller passes.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

_PERSONAL_ID = re.compile(r"(?<!\d)(\d{3})\d{7}(\d{2})(?!\d)")
_SECRET_KEYS = frozenset(
    {"secret", "client_secret", "password", "token", "access_token", "authorization", "api_key"}
)


def mask_text(text: str) -> str:
    """Hide the middle of every 12-digit number: ``087090001234`` → ``087*******34``."""
    return _PERSONAL_ID.sub(r"\1*******\2", text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value) if len(value) >= 12 else value
    if isinstance(value, int) and not isinstance(value, bool) and len(str(value)) == 12:
        return mask_text(str(value))
    if isinstance(value, dict):
        return {k: "***" if _is_secret(k) else _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


def _is_secret(key: object) -> bool:
    return isinstance(key, str) and key.lower() in _SECRET_KEYS


def mask(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask personal ids and secrets in every field."""
    for key, value in event_dict.items():
        event_dict[key] = "***" if _is_secret(key) else _mask_value(value)
    return event_dict


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure(level: str = "info", *, json: bool | None = None) -> None:
    """Set up structlog for the process. ``json`` defaults to "stdout is not a tty"."""
    if json is None:
        json = not sys.stdout.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
