"""The document of a contract version: its schemas, declared errors and
examples, as one JSON object.

The gateway's catalogue (``GET /v1/services/{service}``, ``GET
/v1/topics/{topic}``), the checked-in export and the fingerprint all show a
version through these builders, so what a client reads, what is reviewed and
what is fingerprinted cannot drift apart. Each caller adds only what is its
own (the gateway: providers online, fingerprint, deprecation; the export:
name, version, owner, description).
"""

from __future__ import annotations

from typing import Any

from lgsp_contracts.spec import ServiceContract, TopicContract

Document = dict[str, Any]
"""A parsed JSON object: a schema or an exported contract file."""


def errors(contract: ServiceContract) -> list[Document]:
    """The domain errors a service version declares, as ``{status, code, title}``."""
    return [{"status": e.status, "code": e.code, "title": e.title} for e in contract.errors]


def examples(contract: ServiceContract) -> list[Document]:
    """The examples of a service version, as ``{title, request, response}``."""
    return [
        {"title": ex.title, "request": ex.request, "response": ex.response}
        for ex in contract.examples
    ]


def service_version(contract: ServiceContract, schemas: tuple[Document, Document]) -> Document:
    """A service version's ``request_schema``, ``response_schema``, ``errors``
    and ``examples``; ``schemas`` is its (request, response) pair as
    :attr:`lgsp.catalogue.registry.Registry.schemas` computed it once."""
    request_schema, response_schema = schemas
    return {
        "request_schema": request_schema,
        "response_schema": response_schema,
        "errors": errors(contract),
        "examples": examples(contract),
    }


def topic_version(contract: TopicContract) -> Document:
    """A topic version's ``payload_schema`` and ``examples``."""
    return {
        "payload_schema": contract.payload.model_json_schema(),
        "examples": list(contract.examples),
    }
