"""AsyncAPI 3 of the event topics, generated from the contract registry so
the document can never drift from what the gateway accepts; its component
schemas are made as the gateway's OpenAPI makes them."""

from __future__ import annotations

from typing import Any

from lgsp.catalogue.openapi import component_schemas
from lgsp.catalogue.registry import Registry


def asyncapi(
    registry: Registry, *, title: str = "LGSP events", version: str = "1"
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the event topics."""
    models = [t.payload for vs in registry.topics.values() for t in vs]
    refs, schemas = component_schemas(models)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, versions in registry.topics.items():
        channel_id = name.replace(".", "_").replace("-", "_")
        channel_messages: dict[str, Any] = {}
        for t in versions:
            message_id = f"{channel_id}_v{t.version}"
            messages[message_id] = {
                "name": f"{name} v{t.version}",
                "title": t.description.split("\n")[0],
                "contentType": "application/json",
                "payload": refs[t.payload],
                "examples": [{"payload": ex} for ex in t.examples],
            }
            channel_messages[message_id] = {"$ref": f"#/components/messages/{message_id}"}
        channels[channel_id] = {
            "address": name,
            "description": f"Owner: {versions[-1].owner}. "
            f"Published over HTTP as POST /v1/events/{name}.",
            "messages": channel_messages,
        }
        ref = {"$ref": f"#/channels/{channel_id}"}
        operations[f"publish_{channel_id}"] = {"action": "send", "channel": ref}
        operations[f"receive_{channel_id}"] = {"action": "receive", "channel": ref}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Events accepted by the LGSP gateway and delivered at least once to "
            "every subscriber.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
