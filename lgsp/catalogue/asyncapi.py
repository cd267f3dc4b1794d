"""AsyncAPI 3 of the bus on RabbitMQ (the amqp transport), generated from the
contract registry so the document can never drift from what the gateway
accepts: the broker as the server; for every service version its durable
queue and the request/reply operation over direct reply-to, with the
fingerprint a provider announces; for every topic its routing key on the
events exchange and the subscribers' queues; the presence messages on
``lgsp.control``; and the dead letters. docs/amqp-wire.md says the same in
prose, so that a provider or subscriber in any language can be written from
the two; its component schemas are made as the gateway's OpenAPI makes them.

The names and arguments below are the wire's, written here again because the
catalogue stands beside the transports and never imports them; a test holds
each one to :mod:`lgsp.transport.amqp.topology`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from lgsp.catalogue.openapi import component_schemas
from lgsp.catalogue.registry import Registry
from lgsp.envelope import (
    H_CLIENT,
    H_DEADLINE,
    H_IDEMPOTENCY,
    H_PUBLISHED,
    H_SERVICE,
    H_STATUS,
    H_TOPIC,
    H_VERSION,
)
from lgsp.errors import LgspError, ServiceTimeout, ServiceUnavailable
from lgsp_contracts.spec import ServiceContract

BINDING_VERSION = "0.3.0"
"""The AMQP 0-9-1 bindings version (the one the AsyncAPI 3.0.0 schema knows)."""

EVENTS = "lgsp.events"
UNROUTED = "lgsp.events.unrouted"
DLX = "lgsp.dlx"
DEAD_LETTERS = "lgsp.dead-letters"
DEAD_LETTERS_MAX = 100_000
CONTROL = "lgsp.control"
REPLY_TO = "amq.rabbitmq.reply-to"
HEARTBEAT = "provider.heartbeat"
GONE = "provider.gone"
QUERY = "registry.query"
CONTRACTS = "registry.contracts"
NOTICE = "notice."
HEARTBEAT_INTERVAL_MS = 1000
"""How often a serving process announces itself (the transport's default)."""
PROVIDER_TTL_MS = 3500
"""How long an announcement counts, and the expiration of every presence message."""
MAX_ATTEMPTS = 5
"""Deliveries of an event to a subscriber before it is dead-lettered."""
QUEUE_TYPE_ENV = "LGSP_AMQP_QUEUE_TYPE"

Document = dict[str, Any]
Message = Callable[[str, str, Document], dict[str, str]]
"""Adds a message to a channel and the components; answers its channel ref."""

FAILED_CODE = "provider.failed"
"""The code of the 500 a provider answers when it failed."""


def service_queue(service: str, version: int) -> str:
    return f"lgsp.svc.{service}.v{version}"


def subscriber_queue(subscriber: str, topic: str) -> str:
    return f"lgsp.sub.{subscriber}.{topic}"


def service_queue_arguments(queue_type: str) -> dict[str, Any]:
    return _typed(queue_type, {"x-dead-letter-exchange": DLX})


def subscriber_queue_arguments() -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DLX,
        "x-delivery-limit": MAX_ATTEMPTS - 1,
    }


def dead_letters_arguments(queue_type: str) -> dict[str, Any]:
    return _typed(queue_type, {"x-max-length": DEAD_LETTERS_MAX})


def unrouted_arguments(queue_type: str) -> dict[str, Any]:
    return _typed(queue_type, {})


def _typed(queue_type: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return arguments | {"x-queue-type": "quorum"} if queue_type == "quorum" else arguments


def _id(name: str) -> str:
    return name.replace(".", "_").replace("-", "_")


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


# -- bindings ----------------------------------------------------------------


def _queue(name: str, arguments: dict[str, Any], *, exclusive: bool = False) -> dict[str, Any]:
    """The AMQP channel binding of a queue (its arguments as an extension:
    the bindings have no field for them, and a declaration must repeat them)."""
    return {
        "amqp": {
            "is": "queue",
            "queue": {
                "name": name,
                "durable": not exclusive,
                "exclusive": exclusive,
                "autoDelete": exclusive,
            },
            "x-queue-arguments": arguments,
            "bindingVersion": BINDING_VERSION,
        }
    }


def _routing_key(
    exchange: str, kind: str, arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The AMQP channel binding of a routing key on an exchange."""
    binding: dict[str, Any] = {
        "is": "routingKey",
        "exchange": {"name": exchange, "type": kind, "durable": True, "autoDelete": False},
        "bindingVersion": BINDING_VERSION,
    }
    if arguments:
        binding["x-exchange-arguments"] = arguments
    return {"amqp": binding}


def _operation(**fields: Any) -> dict[str, Any]:
    return {"amqp": fields | {"bindingVersion": BINDING_VERSION}}


# -- message schemas -----------------------------------------------------------

CORRELATION = {
    "description": "The AMQP `correlation_id` property: the requester's own id for the call, "
    "copied unchanged into the reply.",
    "location": "$message.header#/correlation_id",
}

REQUEST_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "Application headers (AMQP `headers` table), all long strings. The AMQP "
    "properties are: content_type `application/json`, message_id = the request id, "
    "correlation_id, reply_to (direct reply-to), expiration = the milliseconds left "
    "before the deadline; not persistent.",
    "required": [H_CLIENT, H_SERVICE, H_VERSION, H_DEADLINE],
    "properties": {
        H_CLIENT: _text("The calling client's id, authenticated by the gateway."),
        H_SERVICE: _text("The service's name."),
        H_VERSION: {**_text("The service version, in decimal digits."), "pattern": "^[0-9]+$"},
        H_DEADLINE: {
            **_text(
                "Absolute deadline, Unix epoch seconds with 3 decimals: nobody waits for "
                "the answer after it."
            ),
            "pattern": r"^[0-9]+\.[0-9]{3}$",
        },
        H_IDEMPOTENCY: _text("The client's Idempotency-Key, when it sent one."),
    },
}

REPLY_HEADERS_OK: dict[str, Any] = {
    "type": "object",
    "description": "Application headers of the reply; content_type `application/json`, "
    "correlation_id = the request's.",
    "required": [H_STATUS],
    "properties": {
        H_STATUS: {"type": "integer", "const": 200, "description": "200: the body is the response."}
    },
}

EVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "Application headers, long strings but for the broker's own. The AMQP "
    "properties are: content_type `application/json`, message_id = the event id (the "
    "subscriber's key to process an event once), correlation_id = the id of the request "
    "that published it, delivery_mode 2 (persistent).",
    "required": [H_CLIENT, H_TOPIC, H_VERSION, H_PUBLISHED],
    "properties": {
        H_CLIENT: _text("The publishing client's id."),
        H_TOPIC: _text("The topic, as the routing key."),
        H_VERSION: {**_text("The topic version, in decimal digits."), "pattern": "^[0-9]+$"},
        H_PUBLISHED: {
            **_text("When the gateway accepted it, Unix epoch seconds with 6 decimals."),
            "pattern": r"^[0-9]+\.[0-9]{6}$",
        },
        "x-delivery-count": {
            "type": "integer",
            "description": "Set by the broker on a redelivery: the deliveries before this one.",
        },
    },
}

PROVIDER_ENTRY: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "service", "version", "instance", "fingerprint"],
    "properties": {
        "kind": {"const": "provider"},
        "service": {"type": "string"},
        "version": {"type": "integer"},
        "instance": _text("Unique per serving instance (process and start)."),
        "fingerprint": {
            "type": ["string", "null"],
            "description": "The contract fingerprint the provider was built against "
            "(x-lgsp-fingerprint of its channel); null is trusted.",
        },
    },
}

SUBSCRIBER_ENTRY: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "topic", "subscriber", "instance"],
    "properties": {
        "kind": {"const": "subscriber"},
        "topic": {"type": "string"},
        "subscriber": {"type": "string"},
        "instance": {"type": "string"},
    },
}

STATUS_ENTRY: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "instance"],
    "properties": {
        "kind": {"const": "status"},
        "adapter": {"type": "string"},
        "instance": {"type": "string"},
        "status": {
            "type": "object",
            "description": "What the adapter says of itself on the dashboard: at most 32 "
            "scalar values.",
        },
    },
}

CONTRACT_ENTRY: dict[str, Any] = {
    "type": "object",
    "required": ["service", "version", "fingerprint"],
    "properties": {
        "service": {"type": "string"},
        "version": {"type": "integer"},
        "fingerprint": {"type": "string"},
    },
}

PRESENCE_DESCRIPTION = (
    f"A JSON array, no content type, expiration {PROVIDER_TTL_MS} ms, not persistent."
)


def _error_payload(codes: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["code", "detail"],
        "properties": {
            "code": {"type": "string", "enum": codes},
            "detail": {"type": "string"},
            "retry_after": {
                "type": "integer",
                "description": "Seconds, with service.unavailable only.",
            },
        },
    }


def _bus_errors() -> list[tuple[int, str]]:
    failed: list[tuple[int, str]] = [(500, FAILED_CODE)]
    bus: tuple[type[LgspError], ...] = (ServiceUnavailable, ServiceTimeout)
    return failed + [(e.status, e.code) for e in bus]


# -- the document --------------------------------------------------------------


def asyncapi(
    registry: Registry,
    *,
    title: str = "LGSP bus on RabbitMQ",
    version: str = "1",
    queue_type: str | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the bus's AMQP wire. ``queue_type`` is
    that of the service queues (default: the ``LGSP_AMQP_QUEUE_TYPE`` this
    process runs with, else ``classic``), as every process of a bus declares them."""
    queue_type = queue_type or os.environ.get(QUEUE_TYPE_ENV) or "classic"
    services = [c for versions in registry.services.values() for c in versions]
    topics = [t for versions in registry.topics.values() for t in versions]
    refs, schemas = component_schemas(
        [m for c in services for m in (c.request, c.response)] + [t.payload for t in topics]
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def message(channel: str, key: str, body: dict[str, Any]) -> dict[str, str]:
        messages[key] = body
        channels[channel].setdefault("messages", {})[key] = _ref("components", "messages", key)
        return _ref("channels", channel, "messages", key)

    for c in services:
        _service_version(c, registry, queue_type, refs, channels, operations, message)
    for t in topics:
        name, key = t.topic, f"{_id(t.topic)}_v{t.version}"
        channel, queue = _id(name), f"sub_{_id(name)}"
        if channel not in channels:
            channels[channel] = {
                "address": name,
                "title": f"Events {name}",
                "description": f"Owner: {t.owner}. The routing key of the topic's events on "
                f"{EVENTS}; published over HTTP as POST /v1/events/{name}.",
                "bindings": _routing_key(EVENTS, "topic", {"alternate-exchange": UNROUTED}),
            }
            channels[queue] = {
                "address": subscriber_queue("{subscriber}", name),
                "title": f"A subscriber's queue of {name}",
                "description": f"A durable quorum queue per subscriber, bound to {EVENTS} "
                f"with the routing key {name}: it keeps the events while its subscriber is "
                f"away. An event nacked (requeued) {MAX_ATTEMPTS} times is dead-lettered "
                f"to {DLX}.",
                "parameters": {"subscriber": {"description": "The subscriber's name."}},
                "bindings": _queue(
                    subscriber_queue("{subscriber}", name), subscriber_queue_arguments()
                ),
            }
            operations[f"publish_{channel}"] = {
                "action": "send",
                "title": f"The gateway publishes {name}",
                "description": "Persistent, mandatory, with publisher confirms: the gateway "
                "answers 202 only once the broker confirmed it.",
                "channel": _ref("channels", channel),
                "messages": [],
                "bindings": _operation(deliveryMode=2, mandatory=True),
            }
            operations[f"receive_{channel}"] = {
                "action": "receive",
                "title": f"A subscriber receives {name}",
                "description": "At least once: acknowledge after processing (deduplicate by "
                "message_id); nack with requeue to have it delivered again.",
                "channel": _ref("channels", queue),
                "messages": [],
                "bindings": _operation(ack=True),
            }
        body = {
            "name": f"{name} v{t.version}",
            "title": t.description.split("\n")[0],
            "contentType": "application/json",
            "headers": EVENT_HEADERS,
            "correlationId": {
                "description": "The AMQP `correlation_id` property: the id of the request "
                "that published the event.",
                "location": "$message.header#/correlation_id",
            },
            "payload": refs[t.payload],
            "examples": [{"payload": ex} for ex in t.examples],
        }
        operations[f"publish_{channel}"]["messages"].append(message(channel, key, body))
        channels[queue].setdefault("messages", {})[key] = _ref("components", "messages", key)
        operations[f"receive_{channel}"]["messages"].append(
            _ref("channels", queue, "messages", key)
        )

    _presence(channels, operations, message)
    _dead_letters(queue_type, channels, operations, message)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The LGSP bus's wire on RabbitMQ: how a provider or subscriber "
            "written in any language with its own AMQP 0-9-1 client serves service versions "
            "and receives events, as the bus's own adapters do (docs/amqp-wire.md says it in "
            "prose). It describes the amqp deployment: on the embedded default (the memory "
            "transport) there is no broker, the adapters run inside the bus, and HTTP "
            "clients call and publish through the gateway's routes (GET /openapi.json) "
            "either way.",
        },
        "servers": {
            "rabbitmq": {
                "host": "{host}",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "title": "RabbitMQ",
                "description": "The deployment's broker (RabbitMQ 3.10 or later), at the "
                "AMQP URL the bus runs with (LGSP_AMQP_URL, --amqp-url); the virtual host "
                "is that URL's (a province's own, when several share a broker). Every "
                "process declares the exchanges and queues it uses, with the arguments "
                "given here, so either side may start first.",
                "variables": {
                    "host": {
                        "default": "localhost:5672",
                        "description": "host:port of the broker, or of any node of its cluster.",
                    }
                },
            }
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _service_version(
    c: ServiceContract,
    registry: Registry,
    queue_type: str,
    refs: dict[Any, Any],
    channels: dict[str, Any],
    operations: dict[str, Any],
    message: Message,
) -> None:
    """The queue, reply channel, messages and operations of one service version."""
    key = f"{_id(c.service)}_v{c.version}"
    queue, reply = f"svc_{key}", f"svc_{key}_reply"
    name = service_queue(c.service, c.version)
    channels[queue] = {
        "address": name,
        "title": f"{c.service} v{c.version}",
        "description": f"Owner: {c.owner}. {c.description.split(chr(10))[0]} The durable "
        "queue of this service version's requests, shared by every provider of it (the "
        "broker spreads them); a request nobody took before its expiration is "
        f"dead-lettered to {DLX}. Called over HTTP as POST /v1/services/{c.service}.",
        "bindings": _queue(name, service_queue_arguments(queue_type)),
        "x-lgsp-service": c.service,
        "x-lgsp-version": c.version,
        "x-lgsp-fingerprint": registry.fingerprints[(c.service, c.version)],
    }
    channels[reply] = {
        "address": None,
        "title": f"Replies of {c.service} v{c.version}",
        "description": "Direct reply-to: the provider publishes the reply to the default "
        "exchange with the request's reply_to as routing key (a name the broker made "
        f"from {REPLY_TO}).",
        "bindings": _routing_key("", "default"),
    }
    request = message(
        queue,
        f"{key}_request",
        {
            "name": f"{c.service} v{c.version} request",
            "title": f"A call of {c.service} v{c.version}",
            "contentType": "application/json",
            "headers": REQUEST_HEADERS,
            "correlationId": CORRELATION,
            "payload": refs[c.request],
            "examples": [{"payload": ex.request} for ex in c.examples],
        },
    )
    declared = [(e.status, e.code) for e in c.errors]
    codes = [code for _, code in declared + _bus_errors()]
    statuses = sorted({status for status, _ in declared + _bus_errors()})
    ok = message(
        reply,
        f"{key}_response",
        {
            "name": f"{c.service} v{c.version} response",
            "title": "The response (lgsp-status 200)",
            "contentType": "application/json",
            "headers": REPLY_HEADERS_OK,
            "correlationId": CORRELATION,
            "payload": refs[c.response],
            "examples": [{"headers": {H_STATUS: 200}, "payload": ex.response} for ex in c.examples],
        },
    )
    errors_listed = "; ".join(f"{status} {code}" for status, code in declared + _bus_errors())
    failed = message(
        reply,
        f"{key}_error",
        {
            "name": f"{c.service} v{c.version} error",
            "title": "A declared error, the provider's failure, or what it depends on unavailable",
            "description": f"lgsp-status and code, one of: {errors_listed}. Any other pair, "
            "or a 200 whose body is outside the response schema, reaches the caller as "
            "502 contract.response_invalid.",
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "required": [H_STATUS],
                "properties": {H_STATUS: {"type": "integer", "enum": statuses}},
            },
            "correlationId": CORRELATION,
            "payload": _error_payload(codes),
        },
    )
    reply_to = {
        "address": {
            "description": f"The request's reply_to property (direct reply-to, {REPLY_TO}).",
            "location": "$message.header#/reply_to",
        },
        "channel": _ref("channels", reply),
        "messages": [ok, failed],
    }
    operations[f"serve_{key}"] = {
        "action": "receive",
        "title": f"A provider serves {c.service} v{c.version}",
        "description": "Consume the queue with manual acks, answer to reply_to with the "
        "request's correlation_id, then ack; drop (ack) a request whose deadline passed. "
        "Announce a heartbeat on lgsp.control while consuming.",
        "channel": _ref("channels", queue),
        "messages": [request],
        "reply": reply_to,
        "bindings": _operation(ack=True),
    }
    operations[f"call_{key}"] = {
        "action": "send",
        "title": f"The gateway calls {c.service} v{c.version}",
        "description": "One unconfirmed publish to the default exchange with the queue's "
        "name as routing key; the expiration is the time left before the deadline.",
        "channel": _ref("channels", queue),
        "messages": [request],
        "reply": reply_to,
        "bindings": _operation(deliveryMode=1, mandatory=False),
    }


def _presence(channels: dict[str, Any], operations: dict[str, Any], message: Message) -> None:
    """The control exchange's routing keys, their messages, and a process's control queue."""
    control = _routing_key(CONTROL, "topic")
    channels["control_queue"] = {
        "address": f"{CONTROL}.{{process}}",
        "title": "A process's control queue",
        "description": f"Exclusive to its connection, bound to {CONTROL} with {HEARTBEAT}, "
        f"{GONE}, {QUERY}, {CONTRACTS} and {NOTICE}#: what every process announces.",
        "parameters": {"process": {"description": "Any id unique to the process."}},
        "bindings": _queue(f"{CONTROL}.{{process}}", {}, exclusive=True),
        "messages": {},
    }
    entries = {
        "type": "array",
        "items": {"oneOf": [PROVIDER_ENTRY, SUBSCRIBER_ENTRY, STATUS_ENTRY]},
    }
    kinds = [
        (
            "heartbeat",
            HEARTBEAT,
            f"Every {HEARTBEAT_INTERVAL_MS} ms, and at once when asked ({QUERY}) or when a "
            "process starts serving or subscribing: what it serves, subscribes to and says "
            f"of itself. A provider counts online while its last heartbeat is at most "
            f"{PROVIDER_TTL_MS} ms old.",
            entries,
        ),
        (
            "gone",
            GONE,
            "On a clean stop, or when it stops serving: the provider entries (and bare status "
            "entries) of what leaves. Gateways take it offline at once.",
            entries,
        ),
        (
            "query",
            QUERY,
            "Empty body: every process answers at once with a heartbeat (and a gateway with "
            f"{CONTRACTS}).",
            {"type": "string", "maxLength": 0},
        ),
        (
            "contracts",
            CONTRACTS,
            "A gateway's published fingerprints, when it starts and whenever asked. A "
            "provider serving a version with another fingerprint stops consuming it.",
            {"type": "array", "items": CONTRACT_ENTRY},
        ),
    ]
    for kind, address, description, payload in kinds:
        channel = f"control_{kind}"
        channels[channel] = {
            "address": address,
            "title": f"Presence: {address}",
            "description": description,
            "bindings": control,
        }
        ref = message(
            channel,
            f"presence_{kind}",
            {"name": address, "description": PRESENCE_DESCRIPTION, "payload": payload},
        )
        channels["control_queue"]["messages"][f"presence_{kind}"] = _ref(
            "components", "messages", f"presence_{kind}"
        )
        operations[f"announce_{kind}"] = {
            "action": "send",
            "title": f"Any process announces {address}",
            "channel": _ref("channels", channel),
            "messages": [ref],
            "bindings": _operation(expiration=PROVIDER_TTL_MS, deliveryMode=1, mandatory=False),
            "x-lgsp-interval-ms": HEARTBEAT_INTERVAL_MS,
            "x-lgsp-ttl-ms": PROVIDER_TTL_MS,
        }
    operations["hear_control"] = {
        "action": "receive",
        "title": "Every process hears the announcements",
        "channel": _ref("channels", "control_queue"),
        "messages": [
            _ref("channels", "control_queue", "messages", f"presence_{kind}") for kind, *_ in kinds
        ],
        "bindings": _operation(ack=False),
    }


def _dead_letters(
    queue_type: str, channels: dict[str, Any], operations: dict[str, Any], message: Message
) -> None:
    """Where what cannot be delivered goes, for operators to inspect."""
    channels["dead_letters"] = {
        "address": DEAD_LETTERS,
        "title": "Dead letters",
        "description": f"Bound to the fanout exchange {DLX}: requests that expired unserved, "
        "malformed requests or events a consumer rejected, and events past their delivery "
        f"limit. The newest {DEAD_LETTERS_MAX} are kept; the broker's x-death header says "
        "where each came from and why.",
        "bindings": _queue(DEAD_LETTERS, dead_letters_arguments(queue_type)),
    }
    channels["unrouted"] = {
        "address": UNROUTED,
        "title": "Unrouted events",
        "description": f"The alternate exchange of {EVENTS} (fanout) and its queue: events "
        "of a topic no subscriber queue is bound to, kept instead of dropped.",
        "bindings": _queue(UNROUTED, unrouted_arguments(queue_type)),
    }
    body = {"name": "dead letter", "description": "Any message, as it was, with x-death."}
    operations["inspect_dead_letters"] = {
        "action": "receive",
        "title": "An operator inspects the dead letters",
        "channel": _ref("channels", "dead_letters"),
        "messages": [message("dead_letters", "dead_letter", body)],
        "bindings": _operation(ack=True),
    }
    operations["inspect_unrouted"] = {
        "action": "receive",
        "title": "An operator inspects the unrouted events",
        "channel": _ref("channels", "unrouted"),
        "messages": [message("unrouted", "unrouted_event", dict(body, name="unrouted event"))],
        "bindings": _operation(ack=True),
    }
