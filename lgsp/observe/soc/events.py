"""The security events the bus sends to the monitoring centre: each kind
with its place in the Elastic Common Schema (``event.kind``, ``category``,
``type``, ``outcome``) and its syslog severity, and the one builder of an
event's document."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lgsp.masking import mask_value


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of security event. ``name`` is ``event.action`` and the
    syslog MSGID, so a collector can count and route without parsing JSON."""

    name: str
    message: str
    category: tuple[str, ...]
    type: tuple[str, ...]
    outcome: Literal["success", "failure", "unknown"] = "failure"
    kind: Literal["event", "alert"] = "event"
    severity: int = 4
    """Syslog severity (RFC 5424): 2 critical, 4 warning, 5 notice."""


_KINDS = (
    Kind("auth.token_refused", "token refused", ("authentication",), ("start", "denied")),
    Kind("auth.unauthenticated", "call without a valid token", ("authentication",), ("denied",)),
    Kind("auth.forbidden", "call to a service not granted", ("api",), ("access", "denied")),
    Kind("auth.blocked", "caller on the SOC blocklist refused", ("network",), ("denied",)),
    Kind("rate.limited", "client over its quota", ("api",), ("denied",), severity=5),
    Kind(
        "input.burst",
        "burst of refused inputs from one caller",
        ("intrusion_detection", "api"),
        ("indicator",),
        kind="alert",
    ),
    Kind(
        "personal_id.enumeration",
        "one client asking for many personal ids",
        ("intrusion_detection", "api"),
        ("indicator",),
        kind="alert",
        severity=2,
    ),
    Kind(
        "admin.client_added",
        "client added",
        ("iam", "configuration"),
        ("user", "creation"),
        "success",
        severity=5,
    ),
    Kind(
        "admin.client_changed",
        "client changed",
        ("iam", "configuration"),
        ("user", "change"),
        "success",
        severity=5,
    ),
    Kind(
        "admin.client_revoked",
        "client revoked",
        ("iam", "configuration"),
        ("user", "change"),
        "success",
        severity=5,
    ),
    Kind(
        "admin.client_deleted",
        "client deleted",
        ("iam", "configuration"),
        ("user", "deletion"),
        "success",
        severity=5,
    ),
    Kind(
        "admin.secret_rotated",
        "client secret rotated",
        ("iam", "configuration"),
        ("user", "change"),
        "success",
        severity=5,
    ),
    Kind(
        "admin.grants_changed",
        "client grants changed",
        ("iam", "configuration"),
        ("user", "change"),
        "success",
        severity=5,
    ),
    Kind(
        "admin.key_rotated",
        "token signing key rotated",
        ("iam", "configuration"),
        ("change",),
        "success",
        severity=5,
    ),
    Kind(
        "exchange_log.verify_failed",
        "exchange log chain broken",
        ("database", "intrusion_detection"),
        ("indicator", "error"),
        kind="alert",
        severity=2,
    ),
    Kind("tls.handshake_failed", "TLS handshake failed", ("network",), ("connection", "error")),
)
KINDS: Mapping[str, Kind] = {k.name: k for k in _KINDS}
"""Every kind of event, by name."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sends: the fields every event of one process carries."""

    province: str
    hostname: str
    pid: int
    role: str = "gateway"


def document(
    kind: Kind,
    origin: Origin,
    timestamp: str,
    fields: Mapping[str, object],
) -> dict[str, Any]:
    """The event as ECS fields (dotted names, which the ECS formatter nests),
    masked as the logs are: a personal id shows only its ends, a secret never."""
    event: dict[str, Any] = {
        "@timestamp": timestamp,
        "event": kind.message,
        "event.kind": kind.kind,
        "event.category": list(kind.category),
        "event.type": list(kind.type),
        "event.action": kind.name,
        "event.outcome": kind.outcome,
        "event.severity": kind.severity,
        "event.dataset": "lgsp.security",
        "event.module": "lgsp",
        "observer.vendor": "lgsp",
        "observer.product": "lgsp",
        "observer.type": "api-gateway",
        "observer.hostname": origin.hostname,
        "host.hostname": origin.hostname,
        "process.pid": origin.pid,
        "service.name": f"lgsp-{origin.role}",
        "service.type": origin.role,
        "organization.id": origin.province,
        "lgsp.province": origin.province,
    }
    for key, value in fields.items():
        if value is not None:
            event[key] = value
    masked: dict[str, Any] = mask_value(event)
    return masked


SEVERITY_LEVELS = {2: "critical", 3: "error", 4: "warning", 5: "notice", 6: "info"}
"""``log.level`` of each syslog severity."""
