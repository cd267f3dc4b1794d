"""/asyncapi.json: a valid AsyncAPI 3.0.0 document whose names, arguments and
fingerprints are the ones the amqp transport really uses, with a
request/reply operation for every service version.

``asyncapi-3.0.0.schema.json`` beside this file is the official AsyncAPI
3.0.0 JSON Schema (with its AMQP bindings 0.3.0), ``schemas/3.0.0.json`` of
the asyncapi/spec-json-schemas repository (Apache-2.0) at commit
7dd3990d9fff9df76e81c8d2ab544e0000f29aff, the file the npm package
``@asyncapi/specs`` 6.11 ships.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry as Schemas
from referencing.jsonschema import DRAFT7

from lgsp.catalogue import asyncapi as wire
from lgsp.catalogue import documents
from lgsp.catalogue.asyncapi import asyncapi
from lgsp.catalogue.registry import Registry
from lgsp.transport.amqp import AmqpTransport, topology
from lgsp.transport.amqp.presence import Presence
from tests.support.echo import TEST_CATALOGUE

SCHEMA = json.loads((Path(__file__).parent / "asyncapi-3.0.0.schema.json").read_text())


def _validator() -> jsonschema.Draft7Validator:
    resources = [(uri, DRAFT7.create_resource(s)) for uri, s in SCHEMA["definitions"].items()]
    return jsonschema.Draft7Validator(SCHEMA, registry=Schemas().with_resources(resources))


VALIDATOR = _validator()


@pytest.fixture(scope="module")
def installed() -> Registry:
    return Registry.from_entry_points(extra=[TEST_CATALOGUE])


@pytest.fixture(scope="module")
def doc(installed: Registry) -> dict[str, Any]:
    return asyncapi(installed, queue_type="classic")


def test_the_document_is_valid_asyncapi_3(doc: dict[str, Any]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in VALIDATOR.iter_errors(doc)]
    assert errors == []
    assert doc["asyncapi"] == "3.0.0"


def test_the_schema_check_refuses_a_wrong_binding(doc: dict[str, Any]) -> None:
    # The check is real: a binding outside the AMQP bindings is refused.
    bad = copy.deepcopy(doc)
    bad["operations"]["serve_land_parcel_lookup_v1"]["bindings"]["amqp"]["deliveryMode"] = 3
    assert not VALIDATOR.is_valid(bad)


def test_it_says_it_describes_the_amqp_deployment(doc: dict[str, Any]) -> None:
    assert "memory transport" in doc["info"]["description"]
    (server,) = doc["servers"].values()
    assert (server["protocol"], server["protocolVersion"]) == ("amqp", "0-9-1")


def test_every_service_version_has_its_queue_and_request_reply(
    doc: dict[str, Any], installed: Registry
) -> None:
    for versions in installed.services.values():
        for c in versions:
            key = f"{c.service.replace('.', '_').replace('-', '_')}_v{c.version}"
            channel = doc["channels"][f"svc_{key}"]
            assert channel["address"] == topology.service_queue(c.service, c.version)
            binding = channel["bindings"]["amqp"]
            assert binding["queue"]["name"] == channel["address"]
            assert binding["queue"]["durable"] is True
            assert binding["x-queue-arguments"] == topology.service_queue_arguments("classic")
            assert channel["x-lgsp-fingerprint"] == installed.fingerprint(c.service, c.version)
            for name, action in ((f"serve_{key}", "receive"), (f"call_{key}", "send")):
                operation = doc["operations"][name]
                assert operation["action"] == action
                assert operation["reply"]["address"]["location"] == "$message.header#/reply_to"
                reply = operation["reply"]["channel"]["$ref"].removeprefix("#/channels/")
                assert doc["channels"][reply]["address"] is None
                assert len(operation["reply"]["messages"]) == 2
            error = doc["components"]["messages"][f"{key}_error"]
            codes = error["payload"]["properties"]["code"]["enum"]
            assert {e.code for e in c.errors} | {"provider.failed", "service.unavailable"} <= set(
                codes
            )


def test_the_events_their_exchange_and_subscriber_queues(
    doc: dict[str, Any], installed: Registry
) -> None:
    for topic in installed.topics:
        key = topic.replace(".", "_").replace("-", "_")
        binding = doc["channels"][key]["bindings"]["amqp"]
        assert doc["channels"][key]["address"] == topic
        assert binding["exchange"] | {"arguments": binding["x-exchange-arguments"]} == {
            "name": topology.EVENTS,
            "type": "topic",
            "durable": True,
            "autoDelete": False,
            "arguments": {"alternate-exchange": topology.UNROUTED},
        }
        queue = doc["channels"][f"sub_{key}"]["bindings"]["amqp"]
        assert queue["queue"]["name"] == topology.subscriber_queue("{subscriber}", topic)
        assert queue["x-queue-arguments"] == topology.subscriber_queue_arguments(
            AmqpTransport("amqp://localhost/")._consumer._max_attempts
        )
        assert doc["operations"][f"publish_{key}"]["bindings"]["amqp"]["deliveryMode"] == 2


def test_quorum_queues_when_the_bus_runs_them(installed: Registry) -> None:
    doc = asyncapi(installed, queue_type="quorum")
    binding = doc["channels"]["svc_land_parcel_lookup_v1"]["bindings"]["amqp"]
    assert binding["x-queue-arguments"] == topology.service_queue_arguments("quorum")
    dead = doc["channels"]["dead_letters"]["bindings"]["amqp"]["x-queue-arguments"]
    assert dead == topology.dead_letters_arguments("quorum")


def test_the_wire_names_are_the_transports() -> None:
    """The catalogue never imports the transport: its copy of the names is held here."""
    for name in ("EVENTS", "UNROUTED", "DLX", "DEAD_LETTERS", "DEAD_LETTERS_MAX", "CONTROL",
                 "REPLY_TO", "HEARTBEAT", "GONE", "QUERY", "CONTRACTS", "NOTICE",
                 "QUEUE_TYPE_ENV"):  # fmt: skip
        assert getattr(wire, name) == getattr(topology, name), name
    for kind in topology.QUEUE_TYPES:
        assert wire.service_queue_arguments(kind) == topology.service_queue_arguments(kind)
        assert wire.dead_letters_arguments(kind) == topology.dead_letters_arguments(kind)
        assert wire.unrouted_arguments(kind) == topology.unrouted_arguments(kind)
    transport = AmqpTransport("amqp://localhost/")
    presence: Presence = transport._presence
    assert wire.subscriber_queue_arguments() == topology.subscriber_queue_arguments(
        transport._consumer._max_attempts
    )
    assert presence._heartbeat_interval * 1000 == wire.HEARTBEAT_INTERVAL_MS
    assert presence._provider_ttl * 1000 == wire.PROVIDER_TTL_MS


def test_a_fingerprint_is_computed_from_the_catalogue_as_documented(installed: Registry) -> None:
    """docs/amqp-wire.md: SHA-256 of the canonical JSON of the version's
    request_schema, response_schema and errors, as GET /v1/services/{service}
    shows them."""
    for (service, version), schemas in installed.schemas.items():
        shown = documents.service_version(installed.service(service, version), schemas)
        fields = {k: shown[k] for k in ("request_schema", "response_schema", "errors")}
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        assert digest == installed.fingerprint(service, version)
