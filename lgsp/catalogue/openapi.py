"""OpenAPI 3.1 of the gateway, generated from the contract registry so the
document can never drift from what the gateway enforces (the topics'
AsyncAPI 3 is :mod:`lgsp.catalogue.asyncapi`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic.json_schema import models_json_schema

from lgsp import errors
from lgsp.catalogue.registry import Registry
from lgsp.envelope import MAX_HEADER_DIGITS, MAX_IDEMPOTENCY_KEY
from lgsp_contracts.spec import Contract, ServiceContract

_REF = "#/components/schemas/{model}"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details, with the bus's stable `code`.",
    "required": ["type", "title", "status", "code", "detail", "request_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}

_EDGE_ERRORS: tuple[type[errors.LgspError], ...] = (
    errors.MalformedRequest,
    errors.IdempotencyConflict,
    errors.Unauthenticated,
    errors.Forbidden,
    errors.UnknownService,
    errors.RequestTimeout,
    errors.RequestTooLarge,
    errors.UnsupportedMediaType,
    errors.RequestInvalid,
    errors.RateLimited,
    errors.ServiceUnavailable,
)
_SERVICE_ERRORS = (*_EDGE_ERRORS, errors.ResponseInvalid, errors.ServiceTimeout)

# A header's value is text: the integers the gateway reads from one are
# ASCII digits, at most MAX_HEADER_DIGITS of them, leading zeros allowed.
# Said as a string's pattern, which every reader applies alike to the text
# sent (JSON Schema's integer leaves "1.0", "+1" or "1e3" to the reader).
_POSITIVE_INTEGER: dict[str, Any] = {
    "type": "string",
    "pattern": "^0*[1-9][0-9]*$",
    "maxLength": MAX_HEADER_DIGITS,
}

_HEADERS: list[dict[str, Any]] = [
    {
        "name": "X-Request-Id",
        "in": "header",
        "required": False,
        "description": "Caller's id for this exchange; generated when absent; echoed back.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
    },
    {
        "name": "X-LGSP-Service-Version",
        "in": "header",
        "required": False,
        "description": "Major version wanted, a positive integer; default: the newest.",
        "schema": _POSITIVE_INTEGER,
    },
    {
        "name": "X-LGSP-Timeout-Ms",
        "in": "header",
        "required": False,
        "description": "Deadline of this call in milliseconds, a positive integer, capped by "
        "the server's maximum. A deadline too short for the provider is answered 504.",
        "schema": _POSITIVE_INTEGER,
    },
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "A retry with the same key (and the same request) returns the first "
        f"outcome; a key is 1-{MAX_IDEMPOTENCY_KEY} characters and belongs to its client. "
        "A key reused with another request is refused with 409.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
    },
]

# An event is accepted once the broker confirms it, within the server's own
# time: a publisher sets no deadline.
_EVENT_HEADERS = [h for h in _HEADERS if h["name"] != "X-LGSP-Timeout-Ms"]


def component_schemas(models: list[type[Contract]]) -> tuple[dict[Any, Any], dict[str, Any]]:
    """The ``$ref`` of each model into ``#/components/schemas`` (where OpenAPI
    and AsyncAPI both keep them), and the schemas to put there."""
    unique = list(dict.fromkeys(models))
    refs, top = models_json_schema([(m, "validation") for m in unique], ref_template=_REF)
    return {m: refs[(m, "validation")] for m in unique}, top.get("$defs", {})


def _one_of(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    """Any of the versions' schemas. Versions often share a model (one ref
    listed twice) or accept the same bodies, so ``oneOf`` (exactly one) would
    refuse what every version accepts."""
    unique = [dict(t) for t in dict.fromkeys(tuple(sorted(s.items())) for s in schemas)]
    return unique[0] if len(unique) == 1 else {"anyOf": unique}


def _problem_responses(problems: Iterable[tuple[int, str, str]]) -> dict[str, Any]:
    """OpenAPI responses for (status, code, title) problems, one entry per
    status listing every code it may carry."""
    out: dict[str, Any] = {}
    for status, code, title in problems:
        entry = out.setdefault(
            str(status),
            {
                "description": "",
                "content": {
                    "application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}
                },
            },
        )
        entry["description"] = "; ".join(filter(None, [entry["description"], f"`{code}`: {title}"]))
    return out


def _bus_problems(errs: Iterable[type[errors.LgspError]]) -> list[tuple[int, str, str]]:
    return [(e.status, e.code, e.title) for e in errs]


def _catalogue_read(summary: str) -> dict[str, Any]:
    """A GET of the catalogue: what it answers, and its two problems."""
    return {
        "summary": summary,
        "security": [{"oauth2": []}],
        "responses": {"200": {"description": summary, "content": {"application/json": {}}}}
        | _problem_responses(_bus_problems((errors.Unauthenticated, errors.UnknownService))),
    }


def _version_note(contract: ServiceContract) -> str:
    note = str(contract.version)
    if contract.deprecated is not None:
        note += f" (deprecated {contract.deprecated.isoformat()}"
        if contract.sunset is not None:
            note += f", sunset {contract.sunset.isoformat()}"
        note += ")"
    return note


def openapi(
    registry: Registry, *, title: str = "LGSP gateway", version: str = "1"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the gateway."""
    models: list[type[Contract]] = [
        m for vs in registry.services.values() for c in vs for m in (c.request, c.response)
    ] + [t.payload for vs in registry.topics.values() for t in vs]
    refs, schemas = component_schemas(models)
    schemas["Problem"] = PROBLEM_SCHEMA
    scopes = {name: f"call {name}" for name in registry.services} | {
        name: f"publish {name}" for name in registry.topics
    }
    paths: dict[str, Any] = {
        "/oauth2/token": {
            "post": {
                "summary": "Get an access token (OAuth2 client credentials, RFC 6749 §4.4)",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["grant_type"],
                                "properties": {
                                    "grant_type": {"const": "client_credentials"},
                                    "client_id": {"type": "string"},
                                    "client_secret": {"type": "string"},
                                    "scope": {
                                        "type": "string",
                                        "description": "Narrow the token to these granted "
                                        "services and topics (names or patterns such as "
                                        "`land.*`, separated by spaces; RFC 6749 §3.3)",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "A bearer token",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "access_token": {"type": "string"},
                                        "token_type": {"const": "Bearer"},
                                        "expires_in": {"type": "integer"},
                                        "scope": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "400": {
                        "description": "`unsupported_grant_type`, `invalid_request`, or "
                        "`invalid_scope` (a scope not granted to the client)"
                    },
                    "401": {"description": "`invalid_client`"},
                },
            }
        }
    }
    for name, versions in registry.services.items():
        newest = versions[-1]
        responses: dict[str, Any] = {
            "200": {
                "description": "The response payload",
                "headers": {
                    "X-Request-Id": {"schema": {"type": "string"}},
                    "X-LGSP-Service-Version": {"schema": {"type": "integer"}},
                },
                "content": {
                    "application/json": {"schema": _one_of([refs[c.response] for c in versions])}
                },
            }
        }
        responses |= _problem_responses(
            _bus_problems(_SERVICE_ERRORS)
            + [(e.status, e.code, e.title) for c in versions for e in c.errors]
        )
        paths[f"/v1/services/{name}"] = {
            "post": {
                "operationId": f"call_{name.replace('.', '_').replace('-', '_')}",
                "summary": newest.description.split("\n")[0],
                "description": f"Owner: {newest.owner}. Versions: "
                + ", ".join(_version_note(c) for c in versions),
                # The operation is deprecated once no version of it is current.
                "deprecated": all(c.deprecated is not None for c in versions),
                "tags": [name.split(".")[0]],
                "security": [{"oauth2": [name]}],
                "parameters": _HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _one_of([refs[c.request] for c in versions]),
                            "examples": {
                                f"v{c.version}-{i}": {
                                    "summary": ex.title or f"v{c.version}",
                                    "value": ex.request,
                                }
                                for c in versions
                                for i, ex in enumerate(c.examples, 1)
                            },
                        }
                    },
                },
                "responses": responses,
            }
        }
    for name, topic_versions in registry.topics.items():
        paths[f"/v1/events/{name}"] = {
            "post": {
                "operationId": f"publish_{name.replace('.', '_').replace('-', '_')}",
                "summary": topic_versions[-1].description.split("\n")[0],
                "tags": ["events"],
                "security": [{"oauth2": [name]}],
                "parameters": _EVENT_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _one_of([refs[t.payload] for t in topic_versions])
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "Accepted, durably, for every subscriber",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["event_id", "request_id"],
                                    "properties": {
                                        "event_id": {"type": "string"},
                                        "request_id": {"type": "string"},
                                    },
                                }
                            }
                        },
                    }
                }
                | _problem_responses(_bus_problems(_EDGE_ERRORS)),
            }
        }
    for route, summary in (
        ("/v1/services", "Catalogue of services"),
        ("/v1/services/{service}", "One service: versions, schemas, errors, examples, providers"),
        ("/v1/topics", "Catalogue of event topics"),
        ("/v1/topics/{topic}", "One topic: versions, payload schemas, examples, subscribers"),
    ):
        op: dict[str, Any] = _catalogue_read(summary)
        if "{" in route:
            param = route.rsplit("{", 1)[1].rstrip("}")
            op["parameters"] = [
                {"name": param, "in": "path", "required": True, "schema": {"type": "string"}}
            ]
        paths.setdefault(route, {})["get"] = op
    # Each service's own path is read (GET) as well as called (POST), as the
    # gateway's Allow says; a name this document does not list is 404 both ways.
    for name in registry.services:
        paths[f"/v1/services/{name}"]["get"] = _catalogue_read(
            f"{name}: versions, schemas, errors, examples, providers"
        ) | {"operationId": f"describe_{name.replace('.', '_').replace('-', '_')}"}
    paths["/v1/services/{service}"]["post"] = {
        "summary": "A service this document does not list: 404",
        "description": "A listed service has a path of its own, which documents it; a "
        "listed name given here is answered as by that path.",
        "security": [{"oauth2": []}],
        "parameters": [
            {
                "name": "service",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "not": {"enum": sorted(registry.services)}},
            }
        ],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
        # 404 for a name not listed. A listed name is its own operation's
        # (one route serves both), answered as that operation documents.
        "responses": {
            "200": {
                "description": "A listed service's response payload, as its own path documents",
                "content": {"application/json": {"schema": {}}},
            }
        }
        | _problem_responses(_bus_problems(_SERVICE_ERRORS)),
    }
    for route, summary in (
        ("/healthz", "Liveness"),
        ("/readyz", "Readiness: broker connected, registry loaded"),
        ("/metrics", "Prometheus exposition"),
        ("/openapi.json", "This document"),
        ("/asyncapi.json", "AsyncAPI 3 of the event topics"),
    ):
        paths[route] = {
            "get": {
                "summary": summary,
                "security": [],
                "responses": {"200": {"description": summary}},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Provincial LGSP data-sharing bus: synchronous services and events "
            "between agency systems, generated from the service contracts. Contracts are "
            "exact: an unknown, missing or mistyped field is refused (422), with no "
            'coercion (`"12"` is no integer); an integer field takes a number with a '
            "zero fractional part (`12.0`), as JSON Schema does, and passes it on as `12`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "flows": {"clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": scopes}},
                }
            },
        },
    }
