"""The admin API: clients, their secrets and grants, the token signing keys,
and the exchange log (``/v1/admin/...``), for operators presenting admin
credentials.

Every change goes to the client store, which this process reloads at once
and other gateway processes as soon as they hear of it (the store's notice
on the transport; on SQLite, also its file's version). A secret is shown
once, in the answer that created it, and never logged. While the store
cannot be written (its database away), a change is 503. Each change is
also a security event for the monitoring centre (:mod:`lgsp.observe.soc`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Annotated, Any, TypeVar

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from lgsp.config import ClientId, Thumbprint
from lgsp.errors import (
    ClientExists,
    RequestInvalid,
    ServiceUnavailable,
    UnknownClient,
    UnsupportedMediaType,
)
from lgsp.gateway.middlewares import OPERATOR
from lgsp.gateway.responses import NO_STORE, json_response
from lgsp.observe.exchange_log import ExchangeLog, Query, as_json
from lgsp.observe.soc import SocFeed
from lgsp.store import StoreError
from lgsp.trust.clients import Client, ClientStore, hash_secret, new_secret, revoked

log = structlog.get_logger("lgsp.admin")

# A service or topic, or a prefix ending in '.*'; '@<province>' or '@*' for
# another province's (docs/protocol.md, "Other provinces").
Grant = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*(\.\*)?(@([a-z][a-z0-9-]{1,31}|\*))?$",
        max_length=160,
    ),
]


M = TypeVar("M", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class NewClient(_Body):
    id: ClientId
    grants: tuple[Grant, ...] = ()
    rate: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)
    description: str = Field(default="", max_length=500)
    certificate_sha256: Thumbprint | None = None
    secret: bool = Field(
        default=True, description="Generate a secret; false for a certificate-only client."
    )


class ClientChange(_Body):
    enabled: bool | None = None
    rate: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)
    unlimited: bool = Field(default=False, description="Remove the client's quota.")
    description: str | None = Field(default=None, max_length=500)
    certificate_sha256: Thumbprint | None = None


class GrantChange(_Body):
    add: tuple[Grant, ...] = ()
    remove: tuple[Grant, ...] = ()


async def _body(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise UnsupportedMediaType()
    raw = await request.read()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise RequestInvalid(
            "body does not match the admin API",
            errors=[
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_input=False)
            ],
        ) from None


def _json(data: Any, status: int = 200) -> web.Response:
    return json_response(data, status=status, headers=NO_STORE)


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """A change of the client store; 503 while its database cannot take it."""
    try:
        yield
    except StoreError as exc:
        log.warning("admin.store_unavailable", error=str(exc))
        raise ServiceUnavailable("the client store cannot be changed now") from exc


class AdminApi:
    """Handlers of ``/v1/admin/clients...`` and ``/v1/admin/keys...``."""

    def __init__(self, store: ClientStore, feed: SocFeed | None = None) -> None:
        self.store = store
        self.feed = feed

    def _changed(
        self, kind: str, request: web.Request, operator: str, target: str | None, **more: object
    ) -> None:
        """Tell the monitoring centre who changed what (never a secret)."""
        if self.feed is not None:
            self.feed.emit(
                kind,
                fields={
                    "user.name": operator,
                    "user.target.id": target,
                    "url.path": request.path,
                    "http.request.method": request.method,
                    **{f"lgsp.{k}": v for k, v in more.items()},
                },
            )

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/admin/clients", self.list_clients),
            web.post("/v1/admin/clients", self.add_client),
            web.get("/v1/admin/clients/{id}", self.show_client),
            web.patch("/v1/admin/clients/{id}", self.change_client),
            web.delete("/v1/admin/clients/{id}", self.delete_client),
            web.post("/v1/admin/clients/{id}/secret", self.rotate_secret),
            web.get("/v1/admin/clients/{id}/grants", self.show_grants),
            web.patch("/v1/admin/clients/{id}/grants", self.change_grants),
            web.get("/v1/admin/keys", self.list_keys),
            web.post("/v1/admin/keys/rotate", self.rotate_key),
        ]

    def _operator(self, request: web.Request) -> str:
        # Checked by the operators_only middleware before any handler runs.
        return request[OPERATOR]

    def _client(self, request: web.Request) -> Client:
        client = self.store.get(request.match_info["id"])
        if client is None:
            raise UnknownClient(request.match_info["id"])
        return client

    async def _update(self, request: web.Request, change: Callable[[Client], Client]) -> Client:
        """Apply ``change`` to the client the route names (404 if none)."""
        with _writing():
            updated = await self.store.update(request.match_info["id"], change)
        if updated is None:
            raise UnknownClient(request.match_info["id"])
        return updated

    async def list_clients(self, request: web.Request) -> web.Response:
        clients = sorted(self.store.snapshot.clients.values(), key=lambda c: c.id)
        return _json({"clients": [c.public() for c in clients]})

    async def show_client(self, request: web.Request) -> web.Response:
        return _json(self._client(request).public())

    async def add_client(self, request: web.Request) -> web.Response:
        operator = self._operator(request)
        new = await _body(request, NewClient)
        if new.burst is not None and new.rate is None:
            raise RequestInvalid("a burst needs a rate")
        if not new.secret and new.certificate_sha256 is None:
            raise RequestInvalid("a client without a secret needs a certificate_sha256")
        secret = new_secret() if new.secret else None
        client = Client(
            id=new.id,
            grants=new.grants,
            secret_hash=await asyncio.to_thread(hash_secret, secret) if secret else None,
            rate=new.rate,
            burst=new.burst,
            certificate_sha256=new.certificate_sha256,
            description=new.description,
        )
        with _writing():
            added = await self.store.add(client)
        if not added:
            raise ClientExists(new.id)
        log.info("admin.client_added", operator=operator, client=client.id)
        self._changed("admin.client_added", request, operator, client.id, grants=list(new.grants))
        answer = client.public()
        if secret is not None:
            answer["client_secret"] = secret
        return _json(answer, status=201)

    async def change_client(self, request: web.Request) -> web.Response:
        operator = self._operator(request)
        change = await _body(request, ClientChange)
        if change.unlimited and (change.rate is not None or change.burst is not None):
            raise RequestInvalid("`unlimited` removes the quota: no rate or burst with it")

        def apply(client: Client) -> Client:
            if change.enabled is False and client.enabled:
                client = revoked(client)
            elif change.enabled:
                # Tokens issued before a revocation stay dead (not_before).
                client = replace(client, enabled=True)
            if change.unlimited:
                client = replace(client, rate=None, burst=None)
            if change.rate is not None:
                client = replace(client, rate=change.rate)
            if change.burst is not None:
                if client.rate is None:
                    raise RequestInvalid("a burst needs a rate")
                client = replace(client, burst=change.burst)
            if change.description is not None:
                client = replace(client, description=change.description)
            if change.certificate_sha256 is not None:
                client = replace(client, certificate_sha256=change.certificate_sha256)
            return client

        updated = await self._update(request, apply)
        fields = sorted(change.model_dump(exclude_defaults=True))
        log.info("admin.client_changed", operator=operator, client=updated.id, fields=fields)
        kind = "admin.client_revoked" if change.enabled is False else "admin.client_changed"
        self._changed(kind, request, operator, updated.id, fields=fields)
        return _json(updated.public())

    async def delete_client(self, request: web.Request) -> web.Response:
        operator = self._operator(request)
        with _writing():
            deleted = await self.store.delete(request.match_info["id"])
        if not deleted:
            raise UnknownClient(request.match_info["id"])
        log.info("admin.client_deleted", operator=operator, client=request.match_info["id"])
        self._changed("admin.client_deleted", request, operator, request.match_info["id"])
        return web.Response(status=204)

    async def rotate_secret(self, request: web.Request) -> web.Response:
        operator = self._operator(request)
        self._client(request)
        secret = new_secret()
        secret_hash = await asyncio.to_thread(hash_secret, secret)
        # Tokens already issued keep working until they expire; revoke the
        # client (and enable it) to end them too.
        updated = await self._update(
            request, lambda c: replace(c, secret_hash=secret_hash, demo=False)
        )
        log.info("admin.secret_rotated", operator=operator, client=updated.id)
        self._changed("admin.secret_rotated", request, operator, updated.id)
        return _json({**updated.public(), "client_secret": secret})

    async def show_grants(self, request: web.Request) -> web.Response:
        client = self._client(request)
        return _json({"client": client.id, "grants": list(client.grants)})

    async def change_grants(self, request: web.Request) -> web.Response:
        operator = self._operator(request)
        change = await _body(request, GrantChange)

        def apply(client: Client) -> Client:
            kept = [g for g in client.grants if g not in change.remove]
            added = [g for g in dict.fromkeys(change.add) if g not in kept]
            return replace(client, grants=(*kept, *added))

        updated = await self._update(request, apply)
        log.info(
            "admin.grants_changed",
            operator=operator,
            client=updated.id,
            added=list(change.add),
            removed=list(change.remove),
        )
        self._changed(
            "admin.grants_changed",
            request,
            operator,
            updated.id,
            grants_added=list(change.add),
            grants_removed=list(change.remove),
        )
        return _json({"client": updated.id, "grants": list(updated.grants)})

    async def list_keys(self, request: web.Request) -> web.Response:
        keys = self.store.snapshot.keys
        return _json({"keys": [{**k.public(), "signing": i == 0} for i, k in enumerate(keys)]})

    async def rotate_key(self, request: web.Request) -> web.Response:
        operator = self._operator(request)
        with _writing():
            key = await self.store.rotate_key()
        log.info("admin.key_rotated", operator=operator, kid=key.kid)
        self._changed("admin.key_rotated", request, operator, None, kid=key.kid)
        return _json({**key.public(), "signing": True}, status=201)


DEFAULT_PAGE = 100
"""Records per page of ``GET /v1/admin/exchanges`` unless ``limit`` says."""


class ExchangeLogRoute:
    """``GET /v1/admin/exchanges``: operators read the exchange log over
    HTTP, with the filters ``lgsp audit export`` takes (``from``, ``to``,
    ``client``, ``service``, ``status``), paged by record number: ``after``
    is the cursor, ``next`` in the answer the one to pass for the next page."""

    def __init__(self, exchange_log: ExchangeLog) -> None:
        self.exchange_log = exchange_log

    async def exchanges(self, request: web.Request) -> web.Response:
        query = Query.parse(request.query, default_limit=DEFAULT_PAGE)
        limit = query.limit or DEFAULT_PAGE
        # One more than asked tells whether a next page exists.
        rows = await self.exchange_log.page(replace(query, limit=limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = rows[-1]["seq"] if more else None
        return _json({"exchanges": [as_json(row) for row in rows], "next": cursor})
