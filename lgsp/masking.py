"""What the bus may quote back or write down: a personal identification
number (số định danh, 12 digits) only with its middle hidden, a secret never.

Logs (every line, :mod:`lgsp.observe.log`) and problem documents
(:mod:`lgsp.errors`) both pass through here.
"""

from __future__ import annotations

import re
from typing import Any

PERSONAL_ID = re.compile(r"(?<!\d)(\d{3})\d{7}(\d{2})(?!\d)")
SECRET_KEYS = frozenset(
    {"secret", "client_secret", "password", "token", "access_token", "authorization", "api_key"}
)


def mask_text(text: str) -> str:
    """Hide the middle of every 12-digit number: ``087090001234`` → ``087*******34``."""
    return PERSONAL_ID.sub(r"\1*******\2", text)


def mask_value(value: Any) -> Any:
    """The value with every personal id masked, and secrets of nested
    mappings replaced by ``***``."""
    if isinstance(value, str):
        return mask_text(value) if len(value) >= 12 else value
    if isinstance(value, int) and not isinstance(value, bool) and len(str(value)) == 12:
        return mask_text(str(value))
    if isinstance(value, dict):
        return {k: "***" if is_secret(k) else mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    return value


def is_secret(key: object) -> bool:
    """Whether a field of this name holds a secret (its value is never shown)."""
    return isinstance(key, str) and key.lower() in SECRET_KEYS
