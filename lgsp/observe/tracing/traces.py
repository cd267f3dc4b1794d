"""What NDOP hears of one exchange: the trace built from a finished
exchange's record and the contract's ``subject`` and ``purpose`` paths.

Decree 278/2025 routes every mandatory sharing through NDOP "to monitor,
trace and evaluate" it: who asked (the client and its agency), for which
procedure, about whom (the 12-digit personal id, kept at NDOP only), when,
and how it ended. Building a trace parses the request body, so it runs off
the request path, in the reporter's intake.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from lgsp.catalogue.registry import Registry
from lgsp.observe.record import ExchangeRecord

PERSONAL_ID = re.compile(r"[0-9]{12}")
"""A personal identification number (số định danh cá nhân): 12 digits."""
MAX_PURPOSE = 64
"""The longest procedure code kept (the contracts' own bound): a refused
call's body was never checked against its contract, and a report is no
place for an arbitrary blob."""
MAX_AGENCY = 200
"""The longest agency description NDOP keeps."""

Trace = dict[str, str | int | float | None]
"""One report, as NDOP's endpoint takes it in ``{"traces": [...]}``."""


@dataclass(frozen=True, slots=True)
class Personal:
    """Where a service version's request names its citizen and its purpose."""

    subject: tuple[str, ...]
    purpose: tuple[str, ...] | None


def personal_services(registry: Registry) -> dict[tuple[str, int], Personal]:
    """The service versions whose exchanges are personal data (their
    contract names a ``subject``), by (service, version)."""
    return {
        (c.service, c.version): Personal(
            tuple(c.subject.split(".")), tuple(c.purpose.split(".")) if c.purpose else None
        )
        for versions in registry.services.values()
        for c in versions
        if c.subject is not None
    }


def reportable(record: ExchangeRecord) -> bool:
    """Whether a finished service call is an exchange NDOP hears of,
    whatever its outcome: answered (2xx), refused (4xx: a known client
    refused a grant, a quota or a malformed request still tried to reach a
    citizen's data) or failed (5xx, 499: the data may have left its
    provider). A call with no authenticated client (``-``, 401) is nobody's
    exchange: anyone can send one, and NDOP would hear noise."""
    return record.kind == "service" and record.client != "-" and record.status != 401


def build(record: ExchangeRecord, personal: Personal, agency: str, province: str) -> Trace | None:
    """The trace of one exchange, or None when its request names no valid
    personal id at the contract's subject (a body that is not JSON, a
    missing field, an id that is not 12 digits). ``agency`` describes the
    client who asked; ``province`` is the reporter's."""
    try:
        body = orjson.loads(record.request)
    except orjson.JSONDecodeError:
        return None
    subject = _at(body, personal.subject)
    if not isinstance(subject, str) or not PERSONAL_ID.fullmatch(subject):
        return None
    purpose = _at(body, personal.purpose) if personal.purpose else None
    if not isinstance(purpose, str) or len(purpose) > MAX_PURPOSE:
        purpose = None
    return {
        "trace_id": uuid.uuid4().hex,
        "request_id": record.request_id,
        "reporter": province,
        "role": "requester" if record.origin is None else "provider",
        "client": record.origin_client or record.client,
        "agency": agency[:MAX_AGENCY],
        "origin": record.origin or province,
        "target": record.target or province,
        "service": record.name,
        "version": record.version,
        "purpose": purpose,
        "subject": subject,
        "status": record.status,
        "at": datetime.fromtimestamp(record.received, UTC).isoformat(timespec="milliseconds"),
        "duration_ms": round(max(record.answered - record.received, 0.0) * 1000, 3),
    }


def _at(body: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(body, Mapping):
            return None
        body = body.get(key)
    return body
